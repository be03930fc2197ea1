import { describe, expect, it } from 'vitest';
import { Balancer, backendKey } from '../../../../agents/edge/balancer.js';
import type { RouteEntry } from '../../../../agents/edge/routing-table.js';
import { FakeClock } from '../../../../framework/testing/fake-clock.js';

const entry = (...ports: number[]): RouteEntry => ({
  host: 'a.test',
  pathPrefix: '/',
  route: 'ns/a',
  backends: ports.map((port) => ({ address: '127.0.0.1', port, instance: `i-${port}` })),
});
const ports = (balancer: Balancer, route: RouteEntry, n: number) => Array.from({ length: n }, () => balancer.pick(route)?.port);

describe('the balancer', () => {
  it('takes the backends of a route in turn', () => {
    const route = entry(1, 2, 3);
    expect(ports(new Balancer(), route, 6)).toEqual([1, 2, 3, 1, 2, 3]);
  });

  it('skips an ejected backend until its ejection ends', () => {
    const clock = new FakeClock();
    const balancer = new Balancer({ ejectMs: 5_000, clock });
    const route = entry(1, 2, 3);
    expect(balancer.eject(route.backends[1]!)).toBe(true);
    expect(ports(balancer, route, 4)).toEqual([1, 3, 1, 3]);
    clock.advance(4_999);
    expect(ports(balancer, route, 2)).toEqual([1, 3]);
    clock.advance(1);
    expect(ports(balancer, route, 3)).toEqual([1, 2, 3]);
  });

  it('ejects a backend on every route that shares its address', () => {
    const balancer = new Balancer();
    const a = entry(1, 2);
    const b = { ...entry(2, 3), route: 'ns/b' };
    balancer.eject(a.backends[1]!);
    expect(ports(balancer, b, 2)).toEqual([3, 3]);
    expect(balancer.healthyCount(a)).toBe(1);
  });

  it('reports a repeated ejection as no news', () => {
    const balancer = new Balancer();
    const route = entry(1);
    expect(balancer.eject(route.backends[0]!)).toBe(true);
    expect(balancer.eject(route.backends[0]!)).toBe(false);
  });

  it('finds nothing when every backend is ejected or already tried', () => {
    const balancer = new Balancer();
    const route = entry(1, 2);
    balancer.eject(route.backends[0]!);
    expect(balancer.pick(route, new Set([backendKey(route.backends[1]!)]))).toBeUndefined();
    expect(balancer.pick(entry())).toBeUndefined();
  });

  it('brackets IPv6 addresses in backend keys', () => {
    expect(backendKey({ address: '::1', port: 80, instance: 'x' })).toBe('[::1]:80');
    expect(backendKey({ address: '10.0.0.1', port: 80, instance: 'x' })).toBe('10.0.0.1:80');
  });

  it('refuses a negative ejection time', () => {
    expect(() => new Balancer({ ejectMs: -1 })).toThrow(/ejectMs must be a whole number/);
  });
});
