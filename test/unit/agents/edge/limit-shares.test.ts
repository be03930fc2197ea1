import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RESERVE, shareOf } from '../../../../agents/edge/limit-shares.js';

/** Every member's share, each computed as that member does: its own demand and the others'. */
const shares = (limit: number, demand: readonly number[]) => demand.map((own, i) => shareOf(limit, own, demand.filter((_, j) => j !== i)));
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

describe('a rate limit divided among the edge processes', () => {
  it('goes in equal parts while nobody asked, and whole to a process alone', () => {
    expect(shares(90, [0, 0, 0])).toEqual([30, 30, 30]);
    expect(shareOf(90, 0, [])).toBe(90);
    expect(shareOf(90, 500, [])).toBe(90);
  });

  it('gives each what it asked for plus an equal part of the rest while they ask for less than the limit', () => {
    expect(shares(100, [30, 10])).toEqual([60, 40]);
  });

  it('follows demand when they ask for more, but for a reserve shared equally', () => {
    expect(shares(100, [300, 100])).toEqual([95 * 0.75 + 2.5, 95 * 0.25 + 2.5]);
    // All clients on one edge of two: it admits 97.5 % of the limit, the idle one keeps 2.5 %.
    expect(shares(100, [400, 0])).toEqual([100 - (RESERVE * 100) / 2, (RESERVE * 100) / 2]);
    expect(shares(100, [200, 200, 200])).toEqual([100 / 3, 100 / 3, 100 / 3].map((x) => expect.closeTo(x, 9)));
  });

  it('adds up to the limit whatever the demand, and never gives a member nothing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.array(fc.double({ min: 0, max: 1e7, noNaN: true }), { minLength: 1, maxLength: 12 }), (limit, demand) => {
        const s = shares(limit, demand);
        expect(sum(s)).toBeCloseTo(limit, 6 - Math.ceil(Math.log10(limit + 1)));
        for (const x of s) expect(x).toBeGreaterThan(0);
      }),
    );
  });
});
