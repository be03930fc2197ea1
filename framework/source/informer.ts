import type { Logger } from 'pino';
import { ApiError, GoneError, keyOfObject, type Resource, type ResourceClient } from '../client/index.js';
import { backoffDelay, type BackoffPolicy } from '../time/backoff.js';
import { systemClock, type Clock } from '../time/clock.js';
import { sleep } from '../time/sleep.js';
import { Cache, type IndexFn } from './cache.js';

/** One change to the cache. `old` is set for updates and deletes. */
export interface Change<T> {
  readonly type: 'added' | 'updated' | 'deleted';
  readonly object: T;
  readonly old?: T;
}

export interface InformerOptions<T extends Resource> {
  /** Named indexes of the cache. @default {} */
  readonly indexers?: Readonly<Record<string, IndexFn<T>>>;
  readonly logger?: Logger;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Longest wait between attempts after the server failed. @default 30_000 */
  readonly maxRetryDelayMs?: number;
}

// A server that answers 429 (its watch cache is (re)initializing after a restart) or 503 (starting,
// stopping) is there and asks us back in a moment: client-go's apiserver tells unready-cache
// clients 1–3 s. Growing the backoff as for a server that is gone cost 6.4 s after a 4 s API
// server restart in test/integration/reliability/apiserver-outage.test.ts.
const SERVER_NOT_READY_DELAY_MS = 1_000;

/**
 * Keeps a Cache of one kind current with list + watch, like client-go's reflector:
 * watch resumes from the last resourceVersion (bookmarks keep it fresh); a `410 Gone` lists again
 * and diffs the cache, so objects deleted while disconnected still produce `deleted` changes.
 */
export class Informer<T extends Resource> {
  readonly cache: Cache<T>;
  private readonly handlers = new Set<(change: Change<T>) => void>();
  private readonly clock: Clock;
  private readonly maxRetryDelayMs: number;
  /** After a failure: 100 ms, doubling to maxRetryDelayMs. */
  private readonly backoff: BackoffPolicy;
  private resolveSynced!: () => void;
  private readonly syncedPromise = new Promise<void>((resolve) => (this.resolveSynced = resolve));
  private isSynced = false;
  private lastVersion: string | undefined;
  private lists = 0;
  private expired = 0;

  constructor(
    readonly client: ResourceClient<T>,
    private readonly options: InformerOptions<T> = {},
  ) {
    this.cache = new Cache(options.indexers);
    this.clock = options.clock ?? systemClock;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.backoff = { baseDelayMs: 100, maxDelayMs: this.maxRetryDelayMs };
  }

  /** Calls `handler` for every change from now on; returns a function that unsubscribes. */
  onChange(handler: (change: Change<T>) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Starts listing and watching in the background; returns at once; stops when `signal` aborts. */
  start(signal: AbortSignal): void {
    void this.run(signal);
  }

  /** Resolves after the first complete list is in the cache. */
  synced(): Promise<void> {
    return this.syncedPromise;
  }

  get hasSynced(): boolean {
    return this.isSynced;
  }

  /** The version the cache is current at. */
  get resourceVersion(): string | undefined {
    return this.lastVersion;
  }

  /** How many full lists were made (the first, then one per 410). */
  get listCount(): number {
    return this.lists;
  }

  /** How many watches the server refused as too old (410 Gone), each followed by a list. */
  get expiredCount(): number {
    return this.expired;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const kind = this.client.type.kind;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (this.lastVersion === undefined) {
          this.lastVersion = await this.relist();
          // The server answered in full: a later failure starts the backoff over.
          failures = 0;
          if (!this.isSynced) {
            this.isSynced = true;
            this.resolveSynced();
          }
        }
        const watchStarted = this.clock.now();
        let events = 0;
        await this.client.watch(this.lastVersion, (event) => {
          events++;
          if (event.type === 'BOOKMARK') {
            this.lastVersion = event.resourceVersion;
            return;
          }
          this.lastVersion = event.object.metadata.resourceVersion ?? this.lastVersion;
          if (event.type === 'DELETED') this.remove(event.object);
          else this.store(event.object);
          failures = 0;
        }, signal);
        // A stream the server ends at once, again and again, must not become a busy loop.
        if (events === 0 && this.clock.now() - watchStarted < 1_000) {
          failures++;
          await sleep(backoffDelay(failures, this.backoff), signal, this.clock);
        }
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof GoneError) {
          this.expired++;
          this.options.logger?.info({ kind, resourceVersion: this.lastVersion }, 'watch version too old; listing again');
          this.lastVersion = undefined;
          continue;
        }
        const notReady = err instanceof ApiError && (err.code === 429 || err.code === 503);
        if (!notReady) failures++;
        const delayMs = notReady ? Math.min(this.maxRetryDelayMs, SERVER_NOT_READY_DELAY_MS) : backoffDelay(failures, this.backoff);
        this.options.logger?.warn({ kind, err: (err as Error).message, failures, delayMs }, 'list/watch failed; retrying');
        await sleep(delayMs, signal, this.clock);
      }
    }
  }

  /** Lists everything and turns the difference from the cache into changes. */
  private async relist(): Promise<string> {
    const { items, resourceVersion } = await this.client.list();
    this.lists++;
    const seen = new Set(items.map(keyOfObject));
    for (const key of this.cache.keys()) {
      if (!seen.has(key)) this.remove(this.cache.get(key)!);
    }
    for (const item of items) {
      const current = this.cache.get(keyOfObject(item));
      if (current?.metadata.resourceVersion !== item.metadata.resourceVersion) this.store(item);
    }
    return resourceVersion;
  }

  private store(object: T): void {
    const old = this.cache.set(object);
    this.emit(old ? { type: 'updated', object, old } : { type: 'added', object });
  }

  private remove(object: T): void {
    const old = this.cache.delete(keyOfObject(object));
    this.emit({ type: 'deleted', object, ...(old ? { old } : {}) });
  }

  private emit(change: Change<T>): void {
    for (const handler of this.handlers) {
      try {
        handler(change);
      } catch (err) {
        this.options.logger?.error({ err, kind: this.client.type.kind }, 'change handler threw');
      }
    }
  }
}
