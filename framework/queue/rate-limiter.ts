import type { Key } from '../reconcile/index.js';
import { backoffDelay } from '../time/backoff.js';
import type { RateLimiter } from './index.js';

export interface ExponentialRateLimiterOptions {
  /** Delay after the first failure. @default 5 */
  readonly baseDelayMs?: number;
  /** Upper bound of the delay. @default 1_000_000 (1000 s) */
  readonly maxDelayMs?: number;
}

/** Per-key exponential backoff: base · 2^(failures), capped; like client-go's ItemExponentialFailureRateLimiter. */
export class ExponentialRateLimiter implements RateLimiter {
  private readonly counts = new Map<Key, number>();
  private readonly base: number;
  private readonly max: number;

  constructor(options: ExponentialRateLimiterOptions = {}) {
    this.base = options.baseDelayMs ?? 5;
    this.max = options.maxDelayMs ?? 1_000_000;
    if (!(this.base > 0) || !(this.max >= this.base)) {
      throw new RangeError(`ExponentialRateLimiter: need 0 < baseDelayMs (${this.base}) ≤ maxDelayMs (${this.max})`);
    }
  }

  when(key: Key): number {
    const failures = this.counts.get(key) ?? 0;
    this.counts.set(key, failures + 1);
    return backoffDelay(failures + 1, { baseDelayMs: this.base, maxDelayMs: this.max });
  }

  forget(key: Key): void {
    this.counts.delete(key);
  }

  failures(key: Key): number {
    return this.counts.get(key) ?? 0;
  }
}
