import { describe, expect, it } from 'vitest';
import { RoutingTable, normaliseHost, pathOf, prefixMatches, type RouteMatch, type RoutingRow } from '../../../../agents/edge/routing-table.js';

const backend = (port: number) => ({ address: '10.0.0.1', port, instance: `i-${port}` });
const row = (host: string, pathPrefix: string, route: string, backends: unknown = [backend(1)]): RoutingRow => ({ host, pathPrefix, route, backends });
const routeOf = (m: RouteMatch) => (m.kind === 'route' ? m.entry.route : m.kind);

describe('the routing table', () => {
  const table = RoutingTable.build(7n, [
    row('shop.example.com', '/', 'shop/web'),
    row('shop.example.com', '/api', 'shop/api'),
    row('shop.example.com', '/api/v2', 'shop/api-v2'),
    row('*.example.com', '/', 'wild/any'),
    row('*.eu.example.com', '/', 'wild/eu'),
    row('docs.example.com', '/guide', 'docs/guide'),
  ]);

  it('keeps the version it was read at', () => {
    expect(table.version).toBe(7n);
    expect(RoutingTable.empty().version).toBe(-1n);
  });

  it('routes an exact host before any wildcard that also matches it', () => {
    expect(routeOf(table.match('shop.example.com', '/'))).toBe('shop/web');
  });

  it('compares hosts without letter case, port or trailing dot', () => {
    expect(routeOf(table.match('SHOP.Example.COM:8080', '/'))).toBe('shop/web');
    expect(routeOf(table.match('shop.example.com.', '/'))).toBe('shop/web');
  });

  it('lets a wildcard match one or more labels but never the bare suffix', () => {
    expect(routeOf(table.match('a.example.com', '/'))).toBe('wild/any');
    expect(routeOf(table.match('a.b.example.com', '/'))).toBe('wild/any');
    expect(table.match('example.com', '/')).toEqual({ kind: 'no-host', host: 'example.com' });
  });

  it('prefers the wildcard with the longest suffix', () => {
    expect(routeOf(table.match('paris.eu.example.com', '/'))).toBe('wild/eu');
    expect(routeOf(table.match('eu.example.com', '/'))).toBe('wild/any');
  });

  it('picks the longest matching path prefix', () => {
    expect(routeOf(table.match('shop.example.com', '/api/v2/orders'))).toBe('shop/api-v2');
    expect(routeOf(table.match('shop.example.com', '/api/v1'))).toBe('shop/api');
    expect(routeOf(table.match('shop.example.com', '/cart'))).toBe('shop/web');
  });

  it('matches prefixes by whole path segments', () => {
    expect(routeOf(table.match('shop.example.com', '/api'))).toBe('shop/api');
    expect(routeOf(table.match('shop.example.com', '/api/'))).toBe('shop/api');
    expect(routeOf(table.match('shop.example.com', '/apix'))).toBe('shop/web');
    expect(routeOf(table.match('shop.example.com', '/api/v2x'))).toBe('shop/api');
  });

  it('ignores the query string when matching', () => {
    expect(routeOf(table.match('shop.example.com', '/api?next=/api/v2'))).toBe('shop/api');
  });

  it('falls through to a wildcard when the exact host has no matching prefix', () => {
    expect(routeOf(table.match('docs.example.com', '/guide/intro'))).toBe('docs/guide');
    expect(routeOf(table.match('docs.example.com', '/blog'))).toBe('wild/any');
  });

  it('says whether the host or only the path found nothing', () => {
    const only = RoutingTable.build(1n, [row('a.test', '/api', 'ns/a')]);
    expect(only.match('b.test', '/')).toEqual({ kind: 'no-host', host: 'b.test' });
    expect(only.match('a.test', '/web?x=1')).toEqual({ kind: 'no-path', host: 'a.test', path: '/web' });
  });

  it('treats a trailing slash in a prefix as absent', () => {
    const t = RoutingTable.build(1n, [row('a.test', '/api/', 'ns/a')]);
    expect(t.entries[0]?.pathPrefix).toBe('/api');
    expect(routeOf(t.match('a.test', '/api'))).toBe('ns/a');
  });

  it('skips bad rows, says why, and serves the rest', () => {
    const t = RoutingTable.build(3n, [
      row('good.test', '/', 'ns/good'),
      row('bad host', '/', 'ns/space'),
      row('x.test', 'nope', 'ns/prefix'),
      row('y.test', '/', 'ns/port', [{ address: '10.0.0.1', port: 0 }]),
      row('z.test', '/', 'ns/array', { address: '10.0.0.1' }),
    ]);
    expect(t.entries.map((e) => e.route)).toEqual(['ns/good']);
    expect(t.problems).toHaveLength(4);
    expect(t.problems.join('\n')).toMatch(/route ns\/space: host "bad host" is not a DNS name/);
    expect(t.problems.join('\n')).toMatch(/route ns\/port: backend .* has no port from 1 to 65535/);
  });

  it('keeps one of two rows that collide after normalisation, whatever their order', () => {
    const rows = [row('A.test', '/api', 'ns/b'), row('a.test', '/api/', 'ns/a')];
    for (const order of [rows, [...rows].reverse()]) {
      const t = RoutingTable.build(1n, order);
      expect(t.entries.map((e) => e.route)).toEqual(['ns/a']);
      expect(t.problems).toEqual(['route ns/b: a.test/api is already served by route ns/a']);
    }
  });

  it('is frozen, so a request can never see it change', () => {
    expect(Object.isFrozen(table)).toBe(true);
    expect(Object.isFrozen(table.entries)).toBe(true);
    expect(Object.isFrozen(table.entries[0]?.backends)).toBe(true);
  });

  it('carries a row\'s rate limit, skips a row whose limit is out of the schema\'s bounds, and has none for a null one', () => {
    const t = RoutingTable.build(1n, [
      { ...row('a.test', '/', 'ns/a'), rateLimit: { requestsPerSecond: 10, burst: 5 } },
      { ...row('b.test', '/', 'ns/b'), rateLimit: null },
      { ...row('c.test', '/', 'ns/c'), rateLimit: { requestsPerSecond: 0, burst: 5 } },
      { ...row('d.test', '/', 'ns/d'), rateLimit: { requestsPerSecond: 10 } },
    ]);
    const limitOf = (host: string) => {
      const m = t.match(host, '/');
      return m.kind === 'route' ? m.entry.rateLimit : m.kind;
    };
    expect(limitOf('a.test')).toEqual({ requestsPerSecond: 10, burst: 5 });
    expect(limitOf('b.test')).toBeUndefined();
    expect(limitOf('c.test')).toBe('no-host');
    expect(limitOf('d.test')).toBe('no-host');
    expect(t.problems).toHaveLength(2);
    expect(t.problems[0]).toMatch(/route ns\/c: rate limit .* needs whole requestsPerSecond and burst from 1 to 1000000/);
  });

  it('routes to an empty backend list as it is (the proxy answers 503)', () => {
    const t = RoutingTable.build(1n, [row('a.test', '/', 'ns/a', [])]);
    const m = t.match('a.test', '/');
    expect(m.kind === 'route' && m.entry.backends).toEqual([]);
  });
});

describe('host and path helpers', () => {
  it('strip the port from IPv6 literals too', () => {
    expect(normaliseHost('[::1]:8080')).toBe('[::1]');
    expect(normaliseHost('Example.com')).toBe('example.com');
  });

  it('take the path of origin-form and absolute-form targets', () => {
    expect(pathOf('/a/b?c#d')).toBe('/a/b');
    expect(pathOf('http://h.test:80/x/y?z')).toBe('/x/y');
    expect(pathOf('http://h.test')).toBe('/');
    expect(pathOf('*')).toBe('/');
  });

  it('let / match every path', () => {
    expect(prefixMatches('/', '/anything')).toBe(true);
    expect(prefixMatches('/a', '/b')).toBe(false);
  });
});
