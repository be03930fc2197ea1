/**
 * @module
 * The work queue: keys to reconcile, with client-go's "fair, stingy" promises.
 *
 * - Fair: keys are processed in the order they were added.
 * - Stingy: a key added many times before it is processed is processed once.
 * - A key is never processed by two workers of one process at once; a key added while it is
 *   being processed is processed again after `done`.
 *
 * Backoff policy is a separate object (`RateLimiter`), so the queue only knows "when", not "why".
 *
 * ```ts
 * const queue = new MemoryQueue({ rateLimiter: new ExponentialRateLimiter() });
 * queue.add(keyOf('acme', 'web'));
 * const key = await queue.get(signal);   // held exclusively until done(key)
 * try { await reconcile(key); queue.forget(key); } catch { queue.addRateLimited(key); }
 * finally { queue.done(key); }
 * ```
 */
import type { Key } from '../reconcile/index.js';

export { MemoryQueue, type MemoryQueueOptions } from './memory-queue.js';
export { ExponentialRateLimiter, type ExponentialRateLimiterOptions } from './rate-limiter.js';
export { noQueueMetrics, type QueueMetrics } from './queue-metrics.js';

/** What a source needs: put keys in. */
export interface Enqueuer {
  /** Queues `key` unless it is already queued (dedupe). */
  add(key: Key): void;
  /** Queues `key` after `delayMs`; an earlier pending time for the same key wins. */
  addAfter(key: Key, delayMs: number): void;
  /** Queues `key` after the delay its RateLimiter gives (its failure count grows). */
  addRateLimited(key: Key): void;
}

/** The queue a controller's workers drain. */
export interface WorkQueue extends Enqueuer {
  /** Next ready key, held exclusively until `done`; null once shut down or `signal` aborts. */
  get(signal?: AbortSignal): Promise<Key | null>;
  /** Releases `key`; if it was added meanwhile it becomes ready again. */
  done(key: Key): void;
  /** Stops tracking failures of `key` (after success or a terminal error). */
  forget(key: Key): void;
  /** How many times `key` has failed since it was last forgotten. */
  failures(key: Key): number;
  /** Stops handing out keys; resolves when in-flight keys are done or `drainMs` has passed. */
  shutdown(options?: { drainMs?: number }): Promise<void>;
  /** Keys ready to be taken (not counting delayed or in-flight ones). */
  depth(): number;
}

/** Backoff policy only; knows nothing about queues. */
export interface RateLimiter {
  /** Milliseconds to wait before the next attempt of `key`; counts one more failure. */
  when(key: Key): number;
  /** Resets `key`'s failure count. */
  forget(key: Key): void;
  /** Failures of `key` since it was last forgotten. */
  failures(key: Key): number;
}
