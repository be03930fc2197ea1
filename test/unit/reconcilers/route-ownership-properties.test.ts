/**
 * Route ownership does not depend on the order events arrive in (fast-check): whichever order
 * the claims, Routes and Tenants are read in, the same tenant owns a host and the same Route owns
 * a host + path prefix — so every replica, reading in its own order, agrees.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Route } from '../../../api/types/route.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { hostOwner, type HostClaim, type HostRoute } from '../../../reconcilers/host-claims.js';
import { routeOwner } from '../../../reconcilers/route.js';

const HOSTS = ['shop.acme.test', 'www.acme.test', 'login.victim.test'];
const TENANTS = ['acme', 'victim', 'rival'];
const PATTERNS = ['*.acme.test', 'shop.acme.test', '*.victim.test', 'login.victim.test', '*.test'];

const tenantArb = (name: string) =>
  fc.subarray(PATTERNS).map((allowedHostnames): Tenant => ({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name }, spec: { namespaces: [name], allowedHostnames } }));

// Creation times with ties (one-second resolution, as the API server's), so the tie-break counts.
const routeArb = fc.record({
  tenant: fc.constantFrom(...TENANTS),
  name: fc.constantFrom('a', 'b', 'c', 'd'),
  host: fc.constantFrom(...HOSTS),
  second: fc.integer({ min: 0, max: 3 }),
  uid: fc.constantFrom('u1', 'u2'),
}).map((r): Route => ({
  apiVersion: 'tend.dev/v1alpha1', kind: 'Route',
  metadata: { name: r.name, namespace: r.tenant, uid: `${r.tenant}-${r.name}-${r.uid}`, creationTimestamp: `2026-12-03T10:00:0${r.second}Z` },
  spec: { host: r.host, app: 'web' },
}));

const claimArb = fc.record({
  host: fc.constantFrom(...HOSTS),
  tenant: fc.constantFrom(...TENANTS),
  name: fc.constantFrom('a', 'b', 'c', 'd'),
  uid: fc.constantFrom('u1', 'u2'),
  ms: fc.integer({ min: 0, max: 5 }),
}).map((c): HostClaim => ({ host: c.host, route: `${c.tenant}/${c.name}`, routeUid: `${c.tenant}-${c.name}-${c.uid}`, tenant: c.tenant, claimedAt: new Date(1_000 + c.ms) }));

// Most claims are a Route's own (its host, uid and tenant, at a random time: these compete); the
// rest are stale (a Route gone, re-created or moved), which must be passed over.
const scenarioArb = fc.uniqueArray(routeArb, { selector: (r) => `${r.metadata.namespace}/${r.metadata.name}`, maxLength: 10 }).chain((routes) =>
  fc.record({
    tenants: fc.tuple(...TENANTS.map(tenantArb)),
    routes: fc.constant(routes),
    claims: fc.tuple(
      fc.tuple(...routes.map((r) => fc.option(fc.integer({ min: 0, max: 5 }), { freq: 3 }).map((ms): HostClaim | null =>
        ms === null ? null : { host: r.spec!.host, route: `${r.metadata.namespace}/${r.metadata.name}`, routeUid: r.metadata.uid!, tenant: r.metadata.namespace!, claimedAt: new Date(1_000 + ms) }))),
      fc.array(claimArb, { maxLength: 4 }),
    ).map(([own, stale]) => {
      // One claim per route and host at most, as the table's key makes it.
      const byKey = new Map<string, HostClaim>();
      for (const c of [...own.filter((c): c is HostClaim => c !== null), ...stale]) if (!byKey.has(`${c.host} ${c.route}`)) byKey.set(`${c.host} ${c.route}`, c);
      return [...byKey.values()];
    }),
  }),
);

/** A permutation of `items` by the given sort keys. */
const shuffled = <T>(items: readonly T[], keys: readonly number[]) => items.map((item, i) => ({ item, k: keys[i % Math.max(keys.length, 1)] ?? 0, i })).sort((a, b) => a.k - b.k || b.i - a.i).map((x) => x.item);

describe('route ownership', () => {
  it('names the same host owner and the same Route owner whatever order claims, Routes and Tenants are read in', () => {
    fc.assert(
      fc.property(scenarioArb, fc.array(fc.integer(), { minLength: 1, maxLength: 12 }), ({ tenants, routes, claims }, keys) => {
        const hostRoutes = (rs: readonly Route[]): HostRoute[] => rs.map((route) => ({ route, tenant: tenants.find((t) => t.metadata.name === route.metadata.namespace) }));
        for (const host of HOSTS) {
          const onHost = routes.filter((r) => r.spec!.host === host);
          const once = hostOwner(host, claims, hostRoutes(onHost), tenants);
          const again = hostOwner(host, shuffled(claims, keys), hostRoutes(shuffled(onHost, [...keys].reverse())), shuffled(tenants, keys));
          expect(again).toBe(once);
          const owner = routeOwner(onHost);
          expect(routeOwner(shuffled(onHost, keys))).toBe(owner);
        }
      }),
      { numRuns: 1_000 },
    );
  }, 30_000);
});
