import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../../framework/index.js';

describe('backoffDelay', () => {
  const policy = { baseDelayMs: 100, maxDelayMs: 10_000 };

  it('waits the base after the first failure and doubles with each one after it', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy))).toEqual([100, 200, 400, 800, 1_600]);
  });

  it('never waits past the cap, however many failures (2^n overflowing to Infinity included)', () => {
    expect(backoffDelay(8, policy)).toBe(10_000);
    expect(backoffDelay(5_000, policy)).toBe(10_000);
  });

  it('waits nothing before any failure', () => {
    expect(backoffDelay(0, policy)).toBe(0);
  });
});
