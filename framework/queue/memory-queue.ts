import type { Key } from '../reconcile/index.js';
import { systemClock, type Clock } from '../time/clock.js';
import { DelayHeap } from './delay-heap.js';
import type { RateLimiter, WorkQueue } from './index.js';
import { noQueueMetrics, type QueueMetrics } from './queue-metrics.js';
import { ExponentialRateLimiter } from './rate-limiter.js';

export interface MemoryQueueOptions {
  /** Backoff policy for `addRateLimited`. @default new ExponentialRateLimiter() (5 ms doubling to 1000 s) */
  readonly rateLimiter?: RateLimiter;
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default noQueueMetrics */
  readonly metrics?: QueueMetrics;
}

type Waiter = (key: Key | null) => void;

/**
 * The in-process work queue of one controller (client-go's workqueue semantics, see index.ts).
 * Ready keys sit in an insertion-ordered Set, which gives both FIFO order and dedupe.
 */
export class MemoryQueue implements WorkQueue {
  private readonly ready = new Set<Key>();
  private readonly readySince = new Map<Key, number>();
  private readonly processing = new Map<Key, number>();
  /** Added while processing: goes back to `ready` on done. */
  private readonly dirty = new Set<Key>();
  private readonly delayed = new DelayHeap();
  private cancelTimer: (() => void) | undefined;
  private timerAt = Infinity;
  private waiters: Waiter[] = [];
  private shuttingDown = false;
  private drained: (() => void) | undefined;
  private readonly rateLimiter: RateLimiter;
  private readonly clock: Clock;
  private readonly metrics: QueueMetrics;

  constructor(options: MemoryQueueOptions = {}) {
    this.rateLimiter = options.rateLimiter ?? new ExponentialRateLimiter();
    this.clock = options.clock ?? systemClock;
    this.metrics = options.metrics ?? noQueueMetrics;
  }

  add(key: Key): void {
    if (this.shuttingDown) return;
    this.metrics.added();
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.ready.has(key)) return;
    this.makeReady(key);
  }

  addAfter(key: Key, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    if (this.delayed.schedule(key, this.clock.now() + delayMs)) this.armTimer();
  }

  addRateLimited(key: Key): void {
    if (this.shuttingDown) return;
    this.metrics.retried();
    this.addAfter(key, this.rateLimiter.when(key));
  }

  get(signal?: AbortSignal): Promise<Key | null> {
    if (this.shuttingDown || signal?.aborted) return Promise.resolve(null);
    const first = this.ready.values().next();
    if (!first.done) return Promise.resolve(this.take(first.value));
    return new Promise((resolve) => {
      const waiter: Waiter = (key) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(key);
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(null);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  done(key: Key): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.metrics.finished(this.clock.now() - started);
    if (this.dirty.delete(key) && !this.shuttingDown) this.makeReady(key);
    if (this.shuttingDown && this.processing.size === 0) this.drained?.();
  }

  forget(key: Key): void {
    this.rateLimiter.forget(key);
  }

  failures(key: Key): number {
    return this.rateLimiter.failures(key);
  }

  async shutdown(options: { drainMs?: number } = {}): Promise<void> {
    if (!this.shuttingDown) {
      this.shuttingDown = true;
      this.cancelTimer?.();
      this.delayed.clear();
      for (const waiter of this.waiters.splice(0)) waiter(null);
    }
    if (this.processing.size === 0) return;
    await new Promise<void>((resolve) => {
      const cancel = this.clock.setTimer(resolve, options.drainMs ?? 30_000);
      this.drained = () => {
        cancel();
        resolve();
      };
    });
  }

  depth(): number {
    return this.ready.size;
  }

  /** Keys waiting for a time (requeueAfter or backoff). */
  delayedCount(): number {
    return this.delayed.size;
  }

  /** Keys being processed right now, and for how long the oldest has been. */
  inFlight(): { count: number; totalMs: number; longestMs: number } {
    const now = this.clock.now();
    let totalMs = 0;
    let longestMs = 0;
    for (const started of this.processing.values()) {
      totalMs += now - started;
      longestMs = Math.max(longestMs, now - started);
    }
    return { count: this.processing.size, totalMs, longestMs };
  }

  private makeReady(key: Key): void {
    const waiter = this.waiters.shift();
    this.readySince.set(key, this.clock.now());
    if (waiter) {
      waiter(this.take(key));
      return;
    }
    this.ready.add(key);
    this.metrics.depth(this.ready.size);
  }

  private take(key: Key): Key {
    this.ready.delete(key);
    const now = this.clock.now();
    this.metrics.taken(now - (this.readySince.get(key) ?? now));
    this.readySince.delete(key);
    this.processing.set(key, now);
    this.metrics.depth(this.ready.size);
    return key;
  }

  private armTimer(): void {
    const next = this.delayed.next();
    if (next === undefined || next >= this.timerAt) return;
    this.cancelTimer?.();
    this.timerAt = next;
    this.cancelTimer = this.clock.setTimer(() => this.fire(), next - this.clock.now());
  }

  private fire(): void {
    this.cancelTimer = undefined;
    this.timerAt = Infinity;
    for (const key of this.delayed.popDue(this.clock.now())) this.add(key);
    this.armTimer();
  }
}
