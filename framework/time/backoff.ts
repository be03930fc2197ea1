/**
 * The one backoff policy of tend: after `failures` failures in a row, wait
 * base · 2^(failures − 1), capped (client-go's ItemExponentialFailureRateLimiter). The queue's
 * rate limiter, the informer, the LISTEN connection, the wait for the database at start, the
 * edge's loaders and the node agent's crash-loop back-off all take their delays from it, each
 * with its own base and cap.
 */

/** A backoff's base and cap. */
export interface BackoffPolicy {
  /** Delay after the first failure. */
  readonly baseDelayMs: number;
  /** Upper bound of the delay. */
  readonly maxDelayMs: number;
}

/** The delay after `failures` failures in a row under `policy` (0 for none). */
export function backoffDelay(failures: number, policy: BackoffPolicy): number {
  if (!(failures >= 1)) return 0;
  // 2^n overflows to Infinity long after it passed the cap; min() handles both.
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failures - 1));
}
