import { describe, expect, it } from 'vitest';
import { RouteLimiter } from '../../../../agents/edge/route-limiter.js';

function limiter() {
  let now = 1_000;
  const l = new RouteLimiter(() => now);
  return { l, advance: (ms: number) => (now += ms) };
}

const admitted = (l: RouteLimiter, route: string, limit: { requestsPerSecond: number; burst: number }, n: number) => {
  let ok = 0;
  for (let i = 0; i < n; i++) if (l.take(route, limit) === 0) ok++;
  return ok;
};

describe('the token buckets of one edge process', () => {
  it('admit the burst at once, then the rate; a refused request learns when to come back', () => {
    const { l, advance } = limiter();
    const limit = { requestsPerSecond: 10, burst: 5 };
    expect(admitted(l, 'ns/a', limit, 8)).toBe(5);
    expect(l.take('ns/a', limit)).toBe(1);
    advance(1_000);
    expect(admitted(l, 'ns/a', limit, 20)).toBe(5); // refilled to the bucket's size, no more
    advance(300);
    expect(admitted(l, 'ns/a', limit, 20)).toBe(3);
  });

  it('refill at this process\'s share of the limit, with its share of the burst but at least one token', () => {
    const { l, advance } = limiter();
    const limit = { requestsPerSecond: 1, burst: 1 };
    l.take('ns/a', limit);
    l.setShares(new Map([['ns/a', 1 / 3]]), 1 / 3);
    advance(1_000);
    // A third of a token per second: the next in 2 more seconds (Retry-After rounds up).
    expect(l.take('ns/a', limit)).toBe(2);
    advance(2_001);
    expect(l.take('ns/a', limit)).toBe(0);
    expect(l.take('ns/a', limit)).toBe(3);
    const big = { requestsPerSecond: 100, burst: 60 };
    l.setShares(new Map([['ns/b', 0.5]]), 0.5);
    expect(admitted(l, 'ns/b', big, 100)).toBe(30);
    advance(1_000);
    expect(admitted(l, 'ns/b', big, 100)).toBe(30);
  });

  it('start a Route first asked after a heartbeat at the share that heartbeat gave it, not at an equal part', () => {
    const { l } = limiter();
    // Just joined: the others asked for everything, so this process's share is small.
    l.setShares(new Map([['ns/a', 0.02]]), 1 / 3);
    expect(admitted(l, 'ns/a', { requestsPerSecond: 100, burst: 100 }, 10)).toBe(2);
    expect(l.fractionOf('ns/a')).toBe(0.02);
    expect(l.fractionOf('ns/new')).toBe(1 / 3);
  });

  it('report what each Route was asked per second, admitted or not, and count again from zero', () => {
    const { l } = limiter();
    const limit = { requestsPerSecond: 1, burst: 1 };
    admitted(l, 'ns/a', limit, 30);
    admitted(l, 'ns/b', limit, 3);
    expect(l.takeDemand(2_000)).toEqual(new Map([['ns/a', 15], ['ns/b', 1.5]]));
    expect(l.takeDemand(1_000)).toEqual(new Map());
  });

  it('follow a changed limit at once, and drop the buckets of Routes no longer limited', () => {
    const { l, advance } = limiter();
    expect(admitted(l, 'ns/a', { requestsPerSecond: 2, burst: 2 }, 10)).toBe(2);
    advance(1_000);
    expect(admitted(l, 'ns/a', { requestsPerSecond: 100, burst: 100 }, 10)).toBe(2);
    advance(100);
    expect(admitted(l, 'ns/a', { requestsPerSecond: 100, burst: 100 }, 20)).toBe(10);
    l.setShares(new Map(), 1);
    // A new bucket: full.
    expect(admitted(l, 'ns/a', { requestsPerSecond: 100, burst: 100 }, 200)).toBe(100);
  });
});
