/**
 * Per-request rate limiting in one edge process: a token bucket per rate-limited Route, refilled
 * at this process's share of the Route's limit (`limit-shares.ts`, set by `edge-membership.ts`
 * once a heartbeat period), and a count of what each Route was asked, which becomes the demand
 * the process publishes. A request costs a map lookup and some arithmetic: no database call, no
 * timer, no allocation.
 *
 * The bucket holds the process's share of the burst too, but never less than one token: with a
 * limit of 1 per second over three edges each admits one request at once and then one every
 * 3 s, so the steady rate stays right and a burst may exceed its share by one request per edge.
 */
import { performance } from 'node:perf_hooks';
import type { RateLimit } from './routing-table.js';

interface Bucket {
  requestsPerSecond: number;
  burst: number;
  /** This process's part of the limit, 0 to 1. */
  fraction: number;
  /** Tokens per millisecond. */
  rate: number;
  capacity: number;
  tokens: number;
  /** When `tokens` was last brought up to date (ms, the limiter's clock). */
  at: number;
  /** Requests asked since the last `takeDemand`, admitted or not. */
  asked: number;
}

/** Token buckets of one process, one per rate-limited Route. */
export class RouteLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** Each rate-limited Route's part, as of the last heartbeat: a bucket made later starts with it. */
  private fractions: ReadonlyMap<string, number> = new Map();
  /** The part of a Route that was not in the table at the last heartbeat: 1 / the processes last seen. */
  private defaultFraction = 1;

  /** `now`: a monotonic clock in milliseconds (a fake one in tests). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /**
   * Takes a token for one request of `route` limited by `limit`: 0 when admitted, else the whole
   * seconds (at least 1) until this process has a token again, for Retry-After.
   */
  take(route: string, limit: RateLimit): number {
    const now = this.now();
    let bucket = this.buckets.get(route);
    if (!bucket) {
      const fraction = clampFraction(this.fractions.get(route) ?? this.defaultFraction);
      bucket = { requestsPerSecond: 0, burst: 0, fraction, rate: 0, capacity: 0, tokens: 0, at: now, asked: 0 };
      this.buckets.set(route, bucket);
      resize(bucket, limit, bucket.fraction);
      bucket.tokens = bucket.capacity;
    } else if (bucket.requestsPerSecond !== limit.requestsPerSecond || bucket.burst !== limit.burst) {
      refill(bucket, now);
      resize(bucket, limit, bucket.fraction);
    }
    bucket.asked++;
    refill(bucket, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    // Less a hair, so that floating point does not turn exactly 2 s into 3.
    return Math.max(1, Math.ceil((1 - bucket.tokens) / bucket.rate / 1000 - 1e-9));
  }

  /**
   * What each Route was asked since the last call, in requests per second over `elapsedMs`;
   * the counts start again from zero.
   */
  takeDemand(elapsedMs: number): Map<string, number> {
    const demand = new Map<string, number>();
    const seconds = Math.max(elapsedMs, 1) / 1000;
    for (const [route, bucket] of this.buckets) {
      if (bucket.asked > 0) demand.set(route, bucket.asked / seconds);
      bucket.asked = 0;
    }
    return demand;
  }

  /**
   * Puts new shares in force: `fractions` gives each rate-limited Route of the table this
   * process's part of its limit, also for a Route it has not been asked for yet (so a process
   * that just joined starts at its share, not at an equal part the others do not know of yet);
   * a Route not in it (new in the table since) gets `defaultFraction`. Buckets of Routes no
   * longer limited are dropped.
   */
  setShares(fractions: ReadonlyMap<string, number>, defaultFraction: number): void {
    this.defaultFraction = clampFraction(defaultFraction);
    this.fractions = fractions;
    const now = this.now();
    for (const [route, bucket] of this.buckets) {
      const fraction = fractions.get(route);
      if (fraction === undefined) {
        this.buckets.delete(route);
        continue;
      }
      refill(bucket, now);
      resize(bucket, bucket, clampFraction(fraction));
    }
  }

  /** This process's part of `route`'s limit now. */
  fractionOf(route: string): number {
    return this.buckets.get(route)?.fraction ?? clampFraction(this.fractions.get(route) ?? this.defaultFraction);
  }
}

function refill(bucket: Bucket, now: number): void {
  const elapsed = now - bucket.at;
  if (elapsed > 0) bucket.tokens = Math.min(bucket.capacity, bucket.tokens + elapsed * bucket.rate);
  bucket.at = now;
}

function resize(bucket: Bucket, limit: RateLimit, fraction: number): void {
  bucket.requestsPerSecond = limit.requestsPerSecond;
  bucket.burst = limit.burst;
  bucket.fraction = fraction;
  bucket.rate = (limit.requestsPerSecond * fraction) / 1000;
  bucket.capacity = Math.max(1, limit.burst * fraction);
  if (bucket.tokens > bucket.capacity) bucket.tokens = bucket.capacity;
}

/** A share is never 0: a member whose figures are not in yet still admits something. */
function clampFraction(fraction: number): number {
  return Number.isFinite(fraction) ? Math.min(1, Math.max(1e-6, fraction)) : 1;
}
