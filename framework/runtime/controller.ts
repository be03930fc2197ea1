import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ConflictError, NotFoundError, type Resource } from '../client/index.js';
import { isFenced } from '../coordination/fence.js';
import { ownsEverything, type Ownership } from '../coordination/ownership.js';
import { RESULT, SKIP, type ControllerMetricFamilies, type ControllerMetrics } from '../metrics/controller-metrics.js';
import { MemoryQueue } from '../queue/memory-queue.js';
import type { RateLimiter } from '../queue/index.js';
import { TerminalError, type Key, type ReconcileContext, type Reconciler, type Result } from '../reconcile/index.js';
import { forKind, type Source } from '../source/index.js';
import type { Informer } from '../source/informer.js';
import { systemClock, type Clock } from '../time/clock.js';

export interface ControllerOptions<T extends Resource, C extends ReconcileContext = ReconcileContext> {
  /** Names the controller in logs, metrics and ownership (`tenant`). */
  readonly name: string;
  /** The kind this controller reconciles; objects are read from its cache. */
  readonly informer: Informer<T>;
  readonly reconcile: Reconciler<T, C>;
  /** Adds the controller's own dependencies (clients, store, recorder) to each run's context. */
  readonly context?: (base: ReconcileContext) => C;
  /** Related kinds mapped to this controller's keys. @default [] */
  readonly watches?: readonly Source[];
  /** Workers reconciling different keys at once. @default 4 */
  readonly concurrency?: number;
  /** After a converged reconcile, look again after this long (± 10 % jitter), so a missed event heals. @default 600_000 (10 min) */
  readonly resyncMs?: number;
  /** Retry delay after a write conflict: a conflict is a stale read, not a failure. @default 50 */
  readonly conflictRetryMs?: number;
  /**
   * Retry delay after the fence refused a write while this replica still holds the epoch it was
   * refused with: its view is stale, and by then its next heartbeat has read the current one (it
   * owns the key still, or drops it). Refused with an epoch it has since replaced: conflictRetryMs. @default 1_000
   */
  readonly fencedRetryMs?: number;
  /** Time in-flight reconciles get at shutdown before their signal aborts. @default 30_000 */
  readonly drainMs?: number;
  /** Backoff for failures. @default ExponentialRateLimiter (5 ms doubling to 1000 s) */
  readonly rateLimiter?: RateLimiter;
  /** Which keys this replica reconciles. @default ownsEverything */
  readonly ownership?: Ownership;
  readonly logger: Logger;
  /** Where to report controller_runtime_* and workqueue_* metrics. */
  readonly metrics?: ControllerMetricFamilies;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Called after every reconcile that ran (for the reconcile journal). */
  readonly onReconciled?: (record: ReconcileRecord) => void;
}

/** One finished reconcile, as the journal and tests see it. */
export interface ReconcileRecord {
  readonly controller: string;
  /** The reconciled object's kind. */
  readonly kind: string;
  readonly key: Key;
  readonly reconcileId: string;
  readonly generation: number | undefined;
  /** The version of the object the reconcile read. */
  readonly resourceVersion: string | undefined;
  /** Set when the reconciler asked to look again after this long. */
  readonly requeueAfterMs?: number;
  readonly result: (typeof RESULT)[keyof typeof RESULT];
  readonly durationMs: number;
  readonly error?: string;
}

/**
 * Runs one reconciler: sources fill the queue with keys; `concurrency` workers take keys, check
 * ownership, read the object from the cache and call the reconciler; one switch maps the outcome
 * to a queue action and a metric (c-r's reconcileHandler).
 */
export class Controller<T extends Resource, C extends ReconcileContext = ReconcileContext> {
  readonly name: string;
  readonly queue: MemoryQueue;
  private readonly clock: Clock;
  private readonly ownership: Ownership;
  private readonly inFlight = new Map<Key, AbortController>();
  private readonly log: Logger;
  private readonly metrics: ControllerMetrics | undefined;

  constructor(private readonly options: ControllerOptions<T, C>) {
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
    this.ownership = options.ownership ?? ownsEverything;
    this.log = options.logger.child({ controller: options.name });
    this.metrics = options.metrics?.forController(options.name, options.concurrency ?? 4, () => this.queue.inFlight());
    this.queue = new MemoryQueue({
      clock: this.clock,
      ...(options.rateLimiter ? { rateLimiter: options.rateLimiter } : {}),
      ...(this.metrics ? { metrics: this.metrics.queue } : {}),
    });
  }

  /** Starts sources and workers; resolves when `signal` aborts and in-flight work has drained. */
  async start(signal: AbortSignal): Promise<void> {
    const { informer, watches = [], concurrency = 4 } = this.options;
    const sources = [forKind(informer), ...watches];
    for (const source of sources) source.start(signal, this.queue);
    const unsubscribe = this.ownership.onChange((ownedBefore) => this.rebalance(ownedBefore));
    await Promise.race([Promise.all(sources.map((s) => s.synced())), aborted(signal)]);
    if (!signal.aborted) this.log.info({ concurrency, keys: informer.cache.size }, 'caches synced; starting workers');
    const workers = Array.from({ length: concurrency }, () => this.work());
    await aborted(signal);
    unsubscribe();
    const drainMs = this.options.drainMs ?? 30_000;
    const abortLeft = this.clock.setTimer(() => {
      for (const controller of this.inFlight.values()) controller.abort(new Error('shutdown drain deadline passed'));
    }, drainMs);
    await this.queue.shutdown({ drainMs });
    abortLeft();
    await Promise.all(workers);
  }

  /** Keys being reconciled right now. */
  get busy(): number {
    return this.inFlight.size;
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === null) return;
      try {
        await this.process(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: Key): Promise<void> {
    const { informer } = this.options;
    const metrics = this.metrics;
    if (!this.ownership.owns(this.name, key)) {
      // The owner sees the same change; if ownership moves here, rebalance() re-enqueues the key.
      this.queue.forget(key);
      metrics?.skipped(SKIP.notOwner);
      return;
    }
    const obj = informer.cache.get(key);
    if (!obj) {
      // Deleted. Cleanup that must happen before deletion is a finalizer's job, done while it exists.
      this.queue.forget(key);
      metrics?.skipped(SKIP.gone);
      return;
    }
    const reconcileId = randomUUID();
    const generation = obj.metadata.generation;
    const log = this.log.child({ key, generation, reconcileId });
    const abort = new AbortController();
    this.inFlight.set(key, abort);
    const base: ReconcileContext = {
      key,
      signal: abort.signal,
      log,
      now: () => new Date(this.clock.now()),
      reconcileId,
      fence: this.ownership.fence(),
    };
    const ctx = this.options.context ? this.options.context(base) : (base as C);
    const started = performance.now();
    metrics?.activeWorkers(1);
    let outcome: { result: Result } | { error: unknown };
    try {
      outcome = { result: await this.options.reconcile(ctx, obj) };
    } catch (error) {
      outcome = { error };
    } finally {
      metrics?.activeWorkers(-1);
      this.inFlight.delete(key);
    }
    const durationMs = performance.now() - started;
    // Deleted while we worked on it (its finalizer just came off): nothing left to do, no error.
    if ('error' in outcome && outcome.error instanceof NotFoundError && !(await this.exists(key))) {
      log.debug({ err: outcome.error.message }, 'object gone meanwhile');
      this.queue.forget(key);
      metrics?.reconciled(RESULT.success, durationMs / 1000);
      return;
    }
    const label = this.handle(key, outcome, log, base.fence);
    metrics?.reconciled(label, durationMs / 1000);
    const error = 'error' in outcome ? errorMessage(outcome.error) : undefined;
    const requeueAfterMs = 'result' in outcome ? outcome.result.requeueAfterMs : undefined;
    this.options.onReconciled?.({
      controller: this.name,
      kind: informer.client.type.kind,
      key,
      reconcileId,
      generation,
      resourceVersion: obj.metadata.resourceVersion,
      result: label,
      durationMs,
      ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}),
      ...(error ? { error } : {}),
    });
  }

  /** Whether the object still exists on the server (the cache may not have seen its deletion yet). */
  private async exists(key: Key): Promise<boolean> {
    try {
      return (await this.options.informer.client.get(key)) !== undefined;
    } catch {
      return true; // cannot tell: treat the error as an error
    }
  }

  /** The one switch: outcome → queue action → metric label. */
  private handle(key: Key, outcome: { result: Result } | { error: unknown }, log: Logger, fence: bigint): (typeof RESULT)[keyof typeof RESULT] {
    const metrics = this.metrics;
    if ('error' in outcome) {
      const { error } = outcome;
      if (isFenced(error)) {
        // Ownership moved while this replica was not looking: not a failure; the refused write wrote nothing.
        log.info({ err: errorMessage(error), fence: String(fence) }, 'write refused by the fence; looking again once the ownership view is current');
        metrics?.fenced();
        // Already reading a newer view: look again at once. Else wait for the heartbeat that reads it.
        const caughtUp = this.ownership.fence() !== fence;
        this.queue.addAfter(key, caughtUp ? (this.options.conflictRetryMs ?? 50) : (this.options.fencedRetryMs ?? 1_000));
        return RESULT.requeue;
      }
      if (error instanceof ConflictError) {
        // Someone wrote first; our read was stale. Retry soon, without an error log.
        log.debug({ err: error.message }, 'conflict; re-reading soon');
        this.queue.addAfter(key, this.options.conflictRetryMs ?? 50);
        return RESULT.requeue;
      }
      if (error instanceof TerminalError) {
        log.error({ err: error.message }, 'reconcile failed; waiting for the object to change');
        metrics?.failed(true);
        this.queue.forget(key);
        return RESULT.error;
      }
      metrics?.failed(false);
      this.queue.addRateLimited(key);
      log.error({ err: errorMessage(error), failures: this.queue.failures(key) }, 'reconcile failed; retrying with backoff');
      return RESULT.error;
    }
    this.queue.forget(key);
    const after = outcome.result.requeueAfterMs;
    if (after !== undefined) {
      this.queue.addAfter(key, after);
      log.debug({ requeueAfterMs: after }, 'reconciled; looking again later');
      return RESULT.requeueAfter;
    }
    const resync = this.options.resyncMs ?? 600_000;
    this.queue.addAfter(key, resync * (0.9 + Math.random() * 0.2));
    log.debug('reconciled');
    return RESULT.success;
  }

  /** Ownership changed: pick up the cached keys we gained, and stop work on keys we lost. */
  private rebalance(ownedBefore: (controller: string, key: Key) => boolean): void {
    for (const key of this.options.informer.cache.keys()) {
      if (this.ownership.owns(this.name, key) && !ownedBefore(this.name, key)) this.queue.add(key);
    }
    for (const [key, controller] of this.inFlight) {
      if (!this.ownership.owns(this.name, key)) controller.abort(new Error('ownership of the key moved to another replica'));
    }
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
