import type { Clock } from '../time/clock.js';

/**
 * Per-object token bucket like client-go's EventSourceObjectSpamFilter: `burst` events at once,
 * then one more every `refillMs`. Remembers at most `maxObjects` objects (oldest forgotten).
 */
export class SpamFilter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly burst = 25,
    private readonly refillMs = 300_000,
    private readonly maxObjects = 4_096,
  ) {}

  /** Takes a token for `object`; false means drop the event. */
  allow(object: string): boolean {
    const now = this.clock.now();
    const bucket = this.buckets.get(object) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) / this.refillMs);
    bucket.at = now;
    this.buckets.delete(object);
    this.buckets.set(object, bucket);
    if (this.buckets.size > this.maxObjects) this.buckets.delete(this.buckets.keys().next().value!);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
