/**
 * Keeps the edge's routing table current from PostgreSQL: the whole table at start, again on
 * every `NOTIFY tend_routing`, after every LISTEN reconnect, and whenever a periodic check of
 * `platform.routing_version` (default every 5 s) finds it moved — so a notification lost in
 * transit costs one check period, never a stale table.
 *
 * Every load reads rows and version in one statement and swaps the new immutable table in with
 * one assignment: a request sees the old table or the new one. Loads never overlap; a burst of
 * notifications coalesces into one load (the payload is the new version, and one already served
 * is ignored).
 *
 * A failed read keeps the table in force: an edge that is serving goes on serving through a
 * PostgreSQL outage. With a snapshot (`routing-snapshot.ts`), every table read whose version the
 * snapshot does not hold yet is saved, and an edge that cannot read PostgreSQL when it starts serves
 * the saved table until a read succeeds.
 */
import type { Logger } from 'pino';
import { backoffDelay, type Enqueuer, type Key, keyOf, postgresSource, type Queryable, sleep } from '../../framework/index.js';
import { loadRouting, routingVersion } from './edge-queries.js';
import type { RoutingSnapshot } from './routing-snapshot.js';
import { RoutingTable, type RoutingRow } from './routing-table.js';

/** The channel the routing trigger notifies (migrations/000005_platform_routing.sql). */
export const ROUTING_CHANNEL = 'tend_routing';

export interface RoutingLoaderOptions {
  /** Where the table is read (a pooled connection is fine). */
  readonly store: Queryable;
  /** A direct PostgreSQL URL for LISTEN (not through a transaction-pooling PgBouncer). */
  readonly listenUrl: string;
  readonly logger: Logger;
  /** How often `platform.routing_version` is compared with the table served. @default 5_000 */
  readonly checkMs?: number;
  /** Where the last table read is saved, and read from when PostgreSQL cannot be reached at start. @default none */
  readonly snapshot?: RoutingSnapshot;
  /** Called after each new table is in force (metrics, logs), with where it came from. */
  readonly onTable?: (table: RoutingTable, previous: RoutingTable, source: TableSource) => void;
  /** Called after each failed read of PostgreSQL (metrics). */
  readonly onReadFailure?: () => void;
}

/** Where the table in force came from: nowhere yet, PostgreSQL, or the snapshot file. */
export type TableSource = 'none' | 'database' | 'snapshot';

const RELOAD: Key = keyOf(undefined, 'routing');

/** The routing table being served, kept current while `run` runs. */
export class RoutingLoader {
  private table: RoutingTable = RoutingTable.empty();
  private tableSource: TableSource = 'none';
  /** The version the snapshot file holds, as far as this loader knows. */
  private savedVersion: bigint | undefined;
  private readonly checkMs: number;
  private readonly log: Logger;
  private resolveLoaded!: () => void;
  private readonly firstLoad = new Promise<void>((resolve) => (this.resolveLoaded = resolve));

  constructor(private readonly options: RoutingLoaderOptions) {
    this.checkMs = options.checkMs ?? 5_000;
    if (!Number.isInteger(this.checkMs) || this.checkMs < 1) {
      throw new TypeError(`routing loader: checkMs must be a positive whole number of milliseconds, got ${String(options.checkMs)}`);
    }
    this.log = options.logger.child({ component: 'routing-loader' });
  }

  /** The table in force now. Read it once per request and use that one object throughout. */
  get current(): RoutingTable {
    return this.table;
  }

  /** Where the table in force came from. */
  get source(): TableSource {
    return this.tableSource;
  }

  /** Resolves once the first table is in force (never, if `run` stops first: race it with your signal). */
  loaded(): Promise<void> {
    return this.firstLoad;
  }

  /** Loads and keeps loading until `signal` aborts; resolves then. Failed reads are retried. */
  async run(signal: AbortSignal): Promise<void> {
    let wanted = true; // the first pass loads
    // Set after each LISTEN (re)connect; a load already under way may predate the connection, so
    // a load does not clear it.
    let checkWanted = false;
    let wake: () => void = () => {};
    const want = () => {
      wanted = true;
      wake();
    };
    let nextCheck = Date.now() + this.checkMs;
    signal.addEventListener('abort', () => wake(), { once: true });
    const notifications: Enqueuer = { add: async () => want(), addAfter: async () => want(), addRateLimited: async () => want() };
    postgresSource({
      name: 'edge',
      connectionString: this.options.listenUrl,
      channel: ROUTING_CHANNEL,
      map: (payload) => (this.isNews(payload) ? [RELOAD] : []),
      // Notifications sent while the connection was down are lost: after every connect, compare
      // versions at once (cheap) instead of waiting for the next periodic check.
      resync: async () => {
        checkWanted = true;
        wake();
        return [];
      },
      logger: this.log,
    }).start(signal, notifications);

    let snapshotTried = false;
    for (let failures = 0; !signal.aborted; ) {
      try {
        if (wanted) {
          wanted = false;
          await this.reload();
          nextCheck = Date.now() + this.checkMs;
        } else if (checkWanted || Date.now() >= nextCheck) {
          checkWanted = false;
          nextCheck = Date.now() + this.checkMs;
          const [row] = await this.options.store.query<{ version: string }>(routingVersion);
          if (row && BigInt(row.version) !== this.table.version) {
            this.log.info({ served: String(this.table.version), current: row.version }, 'routing version moved without a notification; reloading');
            await this.reload();
          }
        }
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        wanted = true;
        this.options.onReadFailure?.();
        const delayMs = backoffDelay(failures, { baseDelayMs: 100, maxDelayMs: this.checkMs });
        if (this.tableSource === 'none') {
          this.log.warn({ err: (err as Error).message, delayMs }, 'reading the routing table failed before any was loaded; retrying');
          if (!snapshotTried && this.options.snapshot) {
            snapshotTried = true;
            await this.adoptSnapshot(this.options.snapshot);
          }
        } else {
          this.log.warn({ err: (err as Error).message, delayMs, version: String(this.table.version), source: this.tableSource }, 'reading the routing table failed; serving the one in force and retrying');
        }
        await sleep(delayMs, signal);
        continue;
      }
      if (wanted || checkWanted) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, nextCheck - Date.now()));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (signal.aborted) wake();
      });
      wake = () => {};
    }
  }

  /** Whether a notification announces a version newer than the one served (unreadable: assume so). */
  private isNews(payload: string): boolean {
    try {
      return BigInt(payload) > this.table.version;
    } catch {
      return true;
    }
  }

  private async reload(): Promise<void> {
    const [row] = await this.options.store.query<{ version: string; routes: RoutingRow[] }>(loadRouting);
    if (!row) throw new Error('platform.routing_version has no row; is migration 000005 applied?');
    const previousSource = this.tableSource;
    const { table, previous } = this.swapIn(BigInt(row.version), row.routes, 'database');
    // A reload can find the version it already serves (a notification raced a load): say so quietly.
    const level = table.version === previous.version && previousSource === 'database' ? 'debug' : 'info';
    this.log[level]({ version: row.version, previous: String(previous.version), routes: table.entries.length, ...(previousSource === 'snapshot' ? { replaced: 'snapshot' } : {}) }, 'routing table loaded');
    const snapshot = this.options.snapshot;
    if (snapshot && this.savedVersion !== table.version) {
      try {
        await snapshot.write(table.version, row.routes);
        this.savedVersion = table.version;
      } catch (err) {
        // Serving does not depend on the disk; the next table read tries again.
        this.log.warn({ err: (err as Error).message, file: snapshot.path, version: row.version }, 'writing the routing snapshot failed; an edge restarted while PostgreSQL is down would serve an older one');
      }
    }
  }

  /** Builds a table from `rows` and puts it in force in one assignment. */
  private swapIn(version: bigint, rows: readonly RoutingRow[], source: TableSource): { table: RoutingTable; previous: RoutingTable } {
    const previous = this.table;
    const table = RoutingTable.build(version, rows);
    this.table = table;
    this.tableSource = source;
    if (table.problems.join('\n') !== previous.problems.join('\n')) {
      for (const problem of table.problems) this.log.warn({ version: String(version) }, problem);
    }
    this.resolveLoaded();
    this.options.onTable?.(table, previous, source);
    return { table, previous };
  }

  /** PostgreSQL cannot be read and nothing is served yet: serve the snapshot, if there is one. */
  private async adoptSnapshot(snapshot: RoutingSnapshot): Promise<void> {
    const found = await snapshot.read();
    if (found.kind === 'none') {
      this.log.warn({ file: snapshot.path }, 'no routing snapshot to serve from; waiting for PostgreSQL');
      return;
    }
    if (found.kind === 'unusable') {
      this.log.warn({ file: snapshot.path, reason: found.reason }, 'the routing snapshot cannot be used; waiting for PostgreSQL');
      return;
    }
    // A read that succeeded meanwhile wins: it is newer than any file.
    if (this.tableSource !== 'none') return;
    const { version, routes, savedAt } = found.table;
    this.savedVersion = version;
    const { table } = this.swapIn(version, routes, 'snapshot');
    this.log.warn(
      { file: snapshot.path, version: String(version), savedAt: savedAt.toISOString(), ageSeconds: Math.round((Date.now() - savedAt.getTime()) / 1000), routes: table.entries.length },
      'PostgreSQL cannot be read: serving the routing snapshot until it can',
    );
  }
}
