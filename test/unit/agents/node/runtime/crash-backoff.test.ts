import { describe, expect, it } from 'vitest';
import { CrashBackoff } from '../../../../../agents/node/runtime/crash-backoff.js';

describe('CrashBackoff', () => {
  it('waits 10 s after the first crash and doubles up to 5 min, like the kubelet', () => {
    const backoff = new CrashBackoff();
    const delays = Array.from({ length: 8 }, () => backoff.next(1_000));
    expect(delays).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });

  it('starts over from the base once a process ran for 10 min before exiting', () => {
    const backoff = new CrashBackoff();
    backoff.next(1_000);
    backoff.next(1_000);
    expect(backoff.next(599_999)).toBe(40_000);
    expect(backoff.next(600_000)).toBe(10_000);
    expect(backoff.next(5)).toBe(20_000);
  });

  it('takes its base, cap and reset time from options, and forgets the streak on reset', () => {
    const backoff = new CrashBackoff({ baseMs: 50, maxMs: 120, resetAfterMs: 1_000 });
    expect([backoff.next(0), backoff.next(0), backoff.next(0)]).toEqual([50, 100, 120]);
    expect(backoff.next(1_000)).toBe(50);
    backoff.next(0);
    backoff.reset();
    expect(backoff.next(0)).toBe(50);
  });

  it('never overflows however long an instance keeps crashing', () => {
    const backoff = new CrashBackoff({ baseMs: 1, maxMs: 60_000 });
    for (let i = 0; i < 5_000; i++) backoff.next(0);
    expect(backoff.next(0)).toBe(60_000);
  });

  it('refuses a base above the maximum', () => {
    expect(() => new CrashBackoff({ baseMs: 10, maxMs: 5 })).toThrow(/baseMs/);
  });
});
