import { backoffDelay } from '../../../framework/index.js';

export interface CrashBackoffOptions {
  /** Delay before the first restart. @default 10_000 (kubelet) */
  readonly baseMs?: number;
  /** Upper bound of the delay. @default 300_000 (kubelet's 5 min) */
  readonly maxMs?: number;
  /** A process that ran at least this long before exiting starts again from `baseMs`. @default 600_000 */
  readonly resetAfterMs?: number;
}

/**
 * CrashLoopBackOff for one instance: base · 2^(crashes in a row), capped at max, and the streak
 * forgotten once a process stayed up for `resetAfterMs`. Policy only — no timers — so it is
 * tested with plain numbers.
 */
export class CrashBackoff {
  private streak = 0;
  private readonly base: number;
  private readonly max: number;
  private readonly resetAfter: number;

  constructor(options: CrashBackoffOptions = {}) {
    this.base = options.baseMs ?? 10_000;
    this.max = options.maxMs ?? 300_000;
    this.resetAfter = options.resetAfterMs ?? 600_000;
    if (!(this.base > 0) || !(this.max >= this.base) || !(this.resetAfter >= 0)) {
      throw new RangeError(`CrashBackoff: need 0 < baseMs (${this.base}) ≤ maxMs (${this.max}) and resetAfterMs (${this.resetAfter}) ≥ 0`);
    }
  }

  /** Delay before restarting a process that just exited after running `ranForMs`. */
  next(ranForMs: number): number {
    if (ranForMs >= this.resetAfter) this.streak = 0;
    this.streak++;
    return backoffDelay(this.streak, { baseDelayMs: this.base, maxDelayMs: this.max });
  }

  /** Forgets the streak (a new spec is a new container). */
  reset(): void {
    this.streak = 0;
  }
}
