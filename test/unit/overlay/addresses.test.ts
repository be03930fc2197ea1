import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterPrefixProblem, contains, formatIpv6, formatPrefix, nodeCapacity, nodePrefix, parseIpv6, parsePrefix } from '../../../overlay/addresses.js';

const address = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
// Addresses with runs of zero groups, where the `::` choice matters.
const sparse = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
  .map((groups) => groups.reduce((value, g) => (value << 16n) | BigInt(g), 0n));

describe('IPv6 text', () => {
  it('formats canonically (RFC 5952, as WHATWG URL hosts do) and parses back', () => {
    fc.assert(fc.property(fc.oneof(address, sparse), (value) => {
      const text = formatIpv6(value);
      expect(parseIpv6(text)).toBe(value);
      expect(new URL(`http://[${text}]/`).hostname).toBe(`[${text}]`);
    }), { numRuns: 2000 });
  });

  it('refuses what is not an IPv6 address', () => {
    for (const text of ['', '1.2.3.4', 'fd00::1::2', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', 'fd00::g', '12345::']) expect(() => parseIpv6(text), text).toThrow(/is not an IPv6 address/);
  });
});

describe('the cluster prefix', () => {
  it('is IPv6, /32 to /56, with no bits past its length', () => {
    expect(clusterPrefixProblem('fd12:3456:789a::/48')).toBeUndefined();
    expect(clusterPrefixProblem('fd12:3456::/32')).toBeUndefined();
    expect(clusterPrefixProblem('fd12:3456:789a::/64')).toMatch(/must be \/32 to \/56/);
    expect(clusterPrefixProblem('10.0.0.0/8')).toMatch(/is not an IPv6 address/);
    expect(clusterPrefixProblem('fd12:3456:789a::1/48')).toBe('"fd12:3456:789a::1/48" has bits set past /48: did you mean fd12:3456:789a::/48?');
    expect(clusterPrefixProblem('fd12::')).toMatch(/is not an IPv6 prefix/);
  });
});

describe('node prefixes', () => {
  const cluster = fc.tuple(address, fc.integer({ min: 32, max: 56 })).map(([bits, length]) => parsePrefix(`${formatIpv6(bits & ~((1n << BigInt(128 - length)) - 1n))}/${length}`));

  it('are /64s inside the cluster prefix, one per node number, never overlapping', () => {
    fc.assert(fc.property(cluster, fc.integer({ min: 1, max: 2 ** 24 }), fc.integer({ min: 1, max: 2 ** 24 }), (c, x, y) => {
      const [i, j] = [x, y].map((n) => Number(((BigInt(n) - 1n) % nodeCapacity(c)) + 1n)) as [number, number];
      const [a, b] = [nodePrefix(c, i), nodePrefix(c, j)];
      expect(a.length).toBe(64);
      expect(contains(c, a.network)).toBe(true);
      expect(contains(c, a.network | 0xffffn)).toBe(true);
      expect(contains(a, b.network)).toBe(i === j);
    }), { numRuns: 1000 });
  });

  it('number 1 to 2^(64 − length) − 1 nodes: 65,535 under a /48', () => {
    const c = parsePrefix('fd12:3456:789a::/48');
    expect(nodeCapacity(c)).toBe(65_535n);
    expect(formatPrefix(nodePrefix(c, 1))).toBe('fd12:3456:789a:1::/64');
    expect(formatPrefix(nodePrefix(c, 65_535))).toBe('fd12:3456:789a:ffff::/64');
    expect(() => nodePrefix(c, 0)).toThrow(/outside/);
    expect(() => nodePrefix(c, 65_536)).toThrow(/outside/);
  });
});
