import { describe, expect, it } from 'vitest';
import { ExponentialRateLimiter } from '../../../../framework/queue/rate-limiter.js';
import type { Key } from '../../../../framework/reconcile/index.js';

const key = 'ns/a' as Key;

describe('ExponentialRateLimiter', () => {
  it('doubles from 5 ms and stops at 1000 s', () => {
    const limiter = new ExponentialRateLimiter();
    const delays = Array.from({ length: 30 }, () => limiter.when(key));
    expect(delays.slice(0, 4)).toEqual([5, 10, 20, 40]);
    expect(delays.at(-1)).toBe(1_000_000);
    expect(Math.max(...delays)).toBe(1_000_000);
  });

  it('counts failures per key and forgets them on success', () => {
    const limiter = new ExponentialRateLimiter();
    limiter.when(key);
    limiter.when(key);
    expect(limiter.failures(key)).toBe(2);
    expect(limiter.failures('other' as Key)).toBe(0);
    limiter.forget(key);
    expect(limiter.when(key)).toBe(5);
  });

  it('never overflows however long a key keeps failing', () => {
    const limiter = new ExponentialRateLimiter({ baseDelayMs: 1, maxDelayMs: 60_000 });
    for (let i = 0; i < 5_000; i++) limiter.when(key);
    expect(limiter.when(key)).toBe(60_000);
  });

  it('refuses a base delay above the maximum', () => {
    expect(() => new ExponentialRateLimiter({ baseDelayMs: 10, maxDelayMs: 5 })).toThrow(/baseDelayMs/);
  });
});
