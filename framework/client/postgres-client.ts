/**
 * @module
 * A ResourceClient over PostgreSQL for standalone mode (no Kubernetes API server), with the
 * Kubernetes API's semantics so informers and controllers run on it unchanged:
 *
 * - one global `resourceVersion` sequence; every write takes one advisory lock, so versions commit
 *   in order and "everything up to version n" is a well-defined snapshot (like an etcd revision);
 * - writes carrying a resourceVersion are preconditions (stale → `ConflictError`);
 * - `generation` moves only when spec changes; `update` never touches status, `patchStatus`
 *   touches only status (RFC 7386 merge patch);
 * - finalizers: `delete` sets `deletionTimestamp`; removing the last finalizer deletes;
 * - every change writes an event row in the same transaction; `watch` replays events after a
 *   version, then follows LISTEN `tend_resources` (a wake-up hint) plus polling (the truth);
 *   a version older than the pruned horizon fails with `GoneError` and the informer lists again.
 *
 * ```ts
 * const apps = new PostgresClient<App>(appType, store, { listenUrl: databaseUrl });
 * const informer = new Informer(apps, { logger });
 * informer.start(signal);
 * ```
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type pg from 'pg';
import type { Key } from '../reconcile/index.js';
import { parseKey } from '../reconcile/index.js';
import { connectClient } from '../store/connect-client.js';
import type { Store, Tx } from '../store/index.js';
import { systemClock, type Clock } from '../time/clock.js';
import { rfc3339Seconds } from '../time/rfc3339.js';
import { ApiError, apiError } from './errors.js';
import type { Resource, ResourceClient, ResourceType, WatchEvent } from './index.js';
import * as q from './postgres-queries.js';
import type { EventPollRow, ResourceRow } from './postgres-queries.js';

export interface PostgresClientOptions<T extends Resource = Resource> {
  /** A direct connection for LISTEN (it does not work through a transaction-pooling PgBouncer). */
  readonly listenUrl: string;
  /** Longest wait between polls of the event log when no notification comes. @default 1_000 */
  readonly pollIntervalMs?: number;
  /** Events read per poll. @default 500 */
  readonly pageSize?: number;
  /**
   * Admission, as the API server's schema validation and defaulting: returns the object to store
   * (defaults applied) or throws an `ApiError` (422 Invalid). `old` is the stored object on update.
   */
  readonly admit?: (obj: T, old: T | undefined) => T;
  /** The watch's poll timer runs on it. @default systemClock */
  readonly clock?: Clock;
}

/** A ResourceClient for one kind whose objects live in `tend.resources`. */
export class PostgresClient<T extends Resource = Resource> implements ResourceClient<T> {
  private readonly pollIntervalMs: number;
  private readonly pageSize: number;
  private readonly clock: Clock;

  constructor(
    readonly type: ResourceType,
    private readonly store: Store,
    private readonly options: PostgresClientOptions<T>,
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.pageSize = options.pageSize ?? 500;
    this.clock = options.clock ?? systemClock;
  }

  async list(): Promise<{ items: T[]; resourceVersion: string }> {
    const { group, plural } = this.type;
    return this.store.tx(async (tx) => {
      await tx.query(q.setRepeatableRead);
      const rows = await tx.query<ResourceRow>(q.listResources, [group, plural]);
      const [version] = await tx.query<{ rv: string }>(q.currentVersion);
      return { items: rows.map((row) => this.toObject(row)), resourceVersion: version!.rv };
    });
  }

  async watch(resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const { group, plural } = this.type;
    if (!/^\d+$/.test(resourceVersion)) throw apiError(`${this.type.kind} watch: invalid resourceVersion ${JSON.stringify(resourceVersion)}`, 400, 'BadRequest');
    let last = BigInt(resourceVersion);
    let pending = false;
    let wake: (() => void) | undefined;
    let failure: Error | undefined;
    const rouse = (): void => {
      pending = true;
      wake?.();
    };
    const onAbort = (): void => rouse();
    signal.addEventListener('abort', onAbort, { once: true });
    let listener: pg.Client | undefined;
    try {
      // To whichever host takes writes, when the URL lists several: NOTIFYs are sent there.
      // A host that does not answer at all (a dead machine at the head of a host list) costs 10 s, not TCP's minutes.
      listener = await connectClient(this.options.listenUrl, { application_name: `tend watch ${plural}`, keepAlive: true, connectionTimeoutMillis: 10_000 });
      listener.on('notification', (message) => {
        if (message.channel === 'tend_resources' && message.payload === plural) rouse();
      });
      listener.on('error', (err) => {
        failure = err;
        rouse();
      });
      listener.on('end', () => {
        failure ??= new Error('LISTEN connection ended');
        rouse();
      });
      await listener.query('listen tend_resources');
      while (!signal.aborted) {
        if (failure) throw new ApiError(`${this.type.kind} watch: ${failure.message}`, 0);
        pending = false;
        const rows = await this.store.query<EventPollRow>(q.pollEvents, [group, plural, last.toString(), this.pageSize]);
        const { horizon, head } = rows[0]!;
        if (last < BigInt(horizon)) {
          throw apiError(`${this.type.kind} watch: too old resource version: ${last} (${horizon})`, 410, 'Expired');
        }
        let delivered = 0;
        for (const row of rows) {
          if (row.resource_version === null || signal.aborted) continue;
          last = BigInt(row.resource_version);
          delivered++;
          onEvent({ type: row.type!, object: this.withApiVersion(row.object as T) });
        }
        if (delivered === this.pageSize) continue;
        // Quiet kinds keep up with the global log, so pruning other kinds' events does not make them Gone.
        if (delivered === 0 && head !== null && BigInt(head) > last && !signal.aborted) {
          last = BigInt(head);
          onEvent({ type: 'BOOKMARK', resourceVersion: head });
        }
        if (pending || signal.aborted) continue;
        await new Promise<void>((resolve) => {
          const cancel = this.clock.setTimer(resolve, this.pollIntervalMs);
          wake = () => {
            cancel();
            resolve();
          };
        });
        wake = undefined;
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err instanceof ApiError ? err : new ApiError(`${this.type.kind} watch: ${(err as Error).message}`, 0);
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (listener) {
        listener.removeAllListeners('end');
        listener.on('error', () => {});
        await listener.end().catch(() => {});
      }
    }
  }

  async get(key: Key): Promise<T | undefined> {
    const [row] = await this.store.query<ResourceRow>(q.getResource, this.where(key));
    return row ? this.toObject(row) : undefined;
  }

  async create(input: T): Promise<T> {
    const { group, plural, kind } = this.type;
    const obj = this.options.admit ? this.options.admit(input, undefined) : input;
    const m = obj.metadata;
    const namespace = this.namespaceOf(m.namespace, m.name);
    return this.write(async (tx, rv) => {
      const [row] = await tx.query<ResourceRow>(q.insertResource, [
        group,
        plural,
        kind,
        namespace,
        m.name,
        randomUUID(),
        rv,
        m.finalizers ?? [],
        m.labels ?? {},
        m.annotations ?? {},
        JSON.stringify(m.ownerReferences ?? []),
        json(obj.spec),
        // Like the status subresource: create ignores status; patchStatus sets it.
        null,
      ]);
      if (!row) throw apiError(`${kind} ${m.name} already exists`, 409, 'AlreadyExists');
      return this.record(tx, 'ADDED', row);
    });
  }

  async update(input: T): Promise<T> {
    const { kind } = this.type;
    if (!input.metadata.resourceVersion) {
      // As the API server answers: an update must say which version it read, or it would overwrite blindly.
      const message = 'metadata.resourceVersion: Invalid value: 0x0: must be specified for an update';
      throw apiError(`${kind} "${input.metadata.name}" is invalid: ${message}`, 422, 'Invalid', [{ field: 'metadata.resourceVersion', message: 'Invalid value: 0x0: must be specified for an update' }]);
    }
    const where = [this.type.group, this.type.plural, this.namespaceOf(input.metadata.namespace, input.metadata.name), input.metadata.name];
    return this.store.tx(async (tx) => {
      await tx.query(q.lockWrites);
      const current = await this.current(tx, where, input.metadata.resourceVersion);
      const obj = this.options.admit ? this.options.admit(input, this.toObject(current)) : input;
      const m = obj.metadata;
      const finalizers = m.finalizers ?? [];
      const labels = m.labels ?? {};
      const annotations = m.annotations ?? {};
      const ownerReferences = m.ownerReferences ?? [];
      const spec = obj.spec === undefined ? null : (JSON.parse(JSON.stringify(obj.spec)) as unknown);
      const specChanged = !isDeepStrictEqual(spec, current.spec ?? null);
      if (current.deletion_timestamp && finalizers.length === 0) {
        return this.remove(tx, current);
      }
      const unchanged =
        !specChanged &&
        isDeepStrictEqual(finalizers, current.finalizers) &&
        isDeepStrictEqual(labels, current.labels) &&
        isDeepStrictEqual(annotations, current.annotations) &&
        isDeepStrictEqual(ownerReferences, current.owner_references);
      if (unchanged) return this.toObject(current);
      const rv = await this.nextVersion(tx);
      const generation = BigInt(current.generation) + (specChanged ? 1n : 0n);
      const [row] = await tx.query<ResourceRow>(q.updateResource, [
        ...where,
        rv,
        generation.toString(),
        finalizers,
        labels,
        annotations,
        JSON.stringify(ownerReferences),
        json(spec),
      ]);
      if (!row) throw apiError(`${kind} ${m.name} not found`, 404, 'NotFound');
      return this.record(tx, 'MODIFIED', row);
    });
  }

  async patchStatus(key: Key, status: unknown, resourceVersion: string): Promise<T> {
    const where = this.where(key);
    return this.store.tx(async (tx) => {
      await tx.query(q.lockWrites);
      const current = await this.current(tx, where, resourceVersion);
      const patched = mergePatch(current.status ?? null, status);
      if (isDeepStrictEqual(patched, current.status ?? null)) return this.toObject(current);
      const rv = await this.nextVersion(tx);
      const [row] = await tx.query<ResourceRow>(q.updateStatus, [...where, rv, json(patched)]);
      return this.record(tx, 'MODIFIED', row!);
    });
  }

  async delete(key: Key): Promise<void> {
    const where = this.where(key);
    await this.store.tx(async (tx) => {
      await tx.query(q.lockWrites);
      const [current] = await tx.query<ResourceRow>(q.getResource, where);
      if (!current) return;
      if (current.finalizers.length === 0) {
        await this.remove(tx, current);
        return;
      }
      if (current.deletion_timestamp) return;
      const rv = await this.nextVersion(tx);
      const [row] = await tx.query<ResourceRow>(q.markDeleted, [...where, rv]);
      await this.record(tx, 'MODIFIED', row!);
    });
  }

  /** Runs one write: lock, draw a version, `fn`, all in one transaction. */
  private async write<R>(fn: (tx: Tx, rv: string) => Promise<R>): Promise<R> {
    return this.store.tx(async (tx) => {
      await tx.query(q.lockWrites);
      return fn(tx, await this.nextVersion(tx));
    });
  }

  private async nextVersion(tx: Tx): Promise<string> {
    const [row] = await tx.query<{ rv: string }>(q.nextVersion);
    return row!.rv;
  }

  /** The current row, checked against the precondition `resourceVersion` when one is given. */
  private async current(tx: Tx, where: string[], resourceVersion: string | undefined): Promise<ResourceRow> {
    const [row] = await tx.query<ResourceRow>(q.getResource, where);
    const key = where[2] ? `${where[2]}/${where[3]}` : where[3];
    if (!row) throw apiError(`${this.type.kind} ${key} not found`, 404, 'NotFound');
    if (resourceVersion !== undefined && resourceVersion !== row.resource_version) {
      throw apiError(
        `${this.type.kind} ${key}: the object has been modified (resourceVersion ${resourceVersion}, now ${row.resource_version}); please apply your changes to the latest version and try again`,
        409,
        'Conflict',
      );
    }
    return row;
  }

  /** Deletes the row; the DELETED event carries the object at a new version. */
  private async remove(tx: Tx, current: ResourceRow): Promise<T> {
    const rv = await this.nextVersion(tx);
    await tx.query(q.deleteResource, [current.group, current.plural, current.namespace, current.name]);
    return this.record(tx, 'DELETED', { ...current, resource_version: rv });
  }

  /** Writes the event and the notification for `row`; returns the object. */
  private async record(tx: Tx, type: 'ADDED' | 'MODIFIED' | 'DELETED', row: ResourceRow): Promise<T> {
    const object = this.toObject(row);
    await tx.query(q.insertEvent, [row.resource_version, row.group, row.plural, row.namespace, row.name, type, JSON.stringify(object)]);
    await tx.query(q.notifyChange, [row.plural]);
    return object;
  }

  private where(key: Key): string[] {
    const { namespace, name } = parseKey(key);
    return [this.type.group, this.type.plural, this.namespaceOf(namespace, name), name];
  }

  private namespaceOf(namespace: string | undefined, name: string): string {
    if (this.type.namespaced && !namespace) throw apiError(`${this.type.kind} ${name}: namespace required`, 400, 'BadRequest');
    return this.type.namespaced ? namespace! : '';
  }

  private withApiVersion(object: T): T {
    return { ...object, apiVersion: this.apiVersion() };
  }

  private apiVersion(): string {
    return this.type.group ? `${this.type.group}/${this.type.version}` : this.type.version;
  }

  private toObject(row: ResourceRow): T {
    const metadata: Resource['metadata'] = {
      name: row.name,
      ...(row.namespace ? { namespace: row.namespace } : {}),
      uid: row.uid,
      resourceVersion: row.resource_version,
      generation: Number(row.generation),
      creationTimestamp: rfc3339Seconds(row.creation_timestamp),
      ...(row.deletion_timestamp ? { deletionTimestamp: rfc3339Seconds(row.deletion_timestamp) } : {}),
      ...(row.finalizers.length ? { finalizers: row.finalizers } : {}),
      ...(Object.keys(row.labels).length ? { labels: row.labels } : {}),
      ...(Object.keys(row.annotations).length ? { annotations: row.annotations } : {}),
      ...(row.owner_references.length ? { ownerReferences: row.owner_references as NonNullable<Resource['metadata']['ownerReferences']> } : {}),
    };
    return {
      apiVersion: this.apiVersion(),
      kind: row.kind,
      metadata,
      ...(row.spec !== null ? { spec: row.spec } : {}),
      ...(row.status !== null ? { status: row.status } : {}),
    } as T;
  }
}

/**
 * Deletes events older than `olderThanMs` (always keeping the newest); a watch from a version
 * at or below what was pruned then fails with `GoneError`. Returns how many were deleted.
 * Not scheduled here: the caller runs it periodically (e.g. every few minutes).
 */
export async function pruneResourceEvents(store: Store, olderThanMs: number): Promise<number> {
  const [row] = await store.query<{ n: number }>(q.pruneEvents, [olderThanMs]);
  return row!.n;
}

/** RFC 7386 JSON merge patch: `null` deletes a key, objects merge, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A jsonb parameter: pg would send a JS array as a PostgreSQL array, so stringify explicitly. */
function json(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}
