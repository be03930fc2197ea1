/**
 * How a Route's rate limit is divided among the edge processes running now: pure, so every case
 * is a unit test. Each process computes its own share from the same published figures — every
 * member's demand (requests per second it was asked for the Route over its last heartbeat
 * period, admitted or not) — so the shares of all members add up to the limit without any
 * coordination beyond those rows.
 *
 * - Nobody asked (a quiet Route, or an edge just started): the limit in equal parts.
 * - Together asked for less than the limit: each gets what it was asked for, plus an equal part
 *   of what is left, so a rise anywhere is admitted at once.
 * - Together asked for more: the limit in proportion to what each was asked for, but for a
 *   reserve (RESERVE of the limit) shared equally — an edge whose clients just arrived is not
 *   shut out until the next heartbeat shows its demand. Proportional, not equal, because a load
 *   balancer rarely spreads load evenly (one edge behind DNS caches, a client pinned by
 *   keep-alive): equal parts would admit less than the limit whenever it does not.
 *
 * The price of the reserve: with all demand on one edge of n, that edge admits
 * (1 − RESERVE + RESERVE / n) of the limit, 97.5 % with two.
 */

/** The part of a limit shared equally however demand falls, as a fraction of the limit. */
export const RESERVE = 0.05;

/**
 * Requests per second this process admits for a Route limited to `limit` requests per second,
 * given its own demand and that of each other live member (0 for one that did not report it).
 */
export function shareOf(limit: number, own: number, others: readonly number[]): number {
  const n = 1 + others.length;
  let total = own;
  for (const d of others) total += d;
  if (total <= 0) return limit / n;
  const reserve = Math.max(limit - total, RESERVE * limit);
  return (limit - reserve) * (own / total) + reserve / n;
}
