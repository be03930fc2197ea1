import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Route } from '../../../api/types/route.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { MAX_STATUS_BACKENDS, hostAllowed, planRoute, type RouteObserved } from '../../../reconcilers/route.js';

const now = new Date('2026-01-02T03:04:05Z');
const tenant: Tenant = { apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['acme'], allowedHostnames: ['*.acme.example'] } };

function route(name: string, host: string, created = '2026-01-01T00:00:00Z', extra: Partial<Route['metadata']> = {}, pathPrefix?: string): Route {
  return {
    apiVersion: 'tend.dev/v1alpha1', kind: 'Route',
    metadata: { name, namespace: 'acme', uid: `u-${extra.namespace ?? 'acme'}-${name}`, generation: 1, creationTimestamp: created, ...extra },
    spec: { host, app: 'web', ...(pathPrefix ? { pathPrefix } : {}) },
  };
}

const backend = { address: '10.0.0.1', port: 4000, instance: 'acme.web-1' };
const seen: RouteObserved = { tenant, appExists: true, hostRoutes: [], hostTenants: [tenant], claims: [], backends: [backend], row: undefined, servedAt: [] };
const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));

describe('hostAllowed', () => {
  it('lets a wildcard pattern allow any subdomain, but not the bare domain or a lookalike', () => {
    expect(hostAllowed('shop.acme.example', ['*.acme.example'])).toBe(true);
    expect(hostAllowed('a.b.acme.example', ['*.acme.example'])).toBe(true);
    expect(hostAllowed('acme.example', ['*.acme.example'])).toBe(false);
    expect(hostAllowed('evilacme.example', ['*.acme.example'])).toBe(false);
    expect(hostAllowed('Shop.Acme.Example', ['shop.acme.example'])).toBe(true);
  });
});

describe('planRoute', () => {
  it('serves an accepted route at its healthy backends and reports the URL', () => {
    const plan = planRoute(route('shop', 'shop.acme.example'), seen, { now });
    expect(plan.steps).toEqual([{ op: 'upsert-routing', host: 'shop.acme.example', pathPrefix: '/', route: 'acme/shop', backends: [backend], suspended: false }]);
    expect(plan.status).toMatchObject({ url: 'http://shop.acme.example/', backends: ['10.0.0.1:4000'] });
    expect(findCondition(plan.status.conditions, 'Ready')?.status).toBe('True');
  });

  it('writes nothing when the routing row already matches', () => {
    expect(planRoute(route('shop', 'shop.acme.example'), { ...seen, row: { route: 'acme/shop', backends: [backend], suspended: false } }, { now }).steps).toEqual([]);
  });

  it('refuses a host outside the tenant\'s allowed names', () => {
    const plan = planRoute(route('shop', 'shop.other.example'), seen, { now });
    expect(findCondition(plan.status.conditions, 'Accepted')).toMatchObject({ status: 'False', reason: 'HostNotAllowed', message: 'tenant acme allows *.acme.example, not shop.other.example' });
    expect(plan.steps).toEqual([]);
  });

  it('leaves a host + prefix to the tenant\'s older route and names it, and is never served meanwhile', () => {
    const older = route('first', 'shop.acme.example', '2026-01-01T00:00:00Z');
    const younger = route('second', 'shop.acme.example', '2026-01-01T00:00:05Z');
    const hostRoutes = [older, younger].map((r) => ({ route: r, tenant }));
    const plan = planRoute(younger, { ...seen, hostRoutes, row: { route: 'acme/first', backends: [backend], suspended: false } }, { now });
    expect(findCondition(plan.status.conditions, 'Accepted')).toMatchObject({ status: 'False', reason: 'HostConflict', message: 'shop.acme.example/ is served by route acme/first, created first' });
    expect(plan.steps).toEqual([]);
    expect(plan.status.url).toBeUndefined();
  });

  it('takes the host over once the older route is gone', () => {
    const younger = route('second', 'shop.acme.example', '2026-01-01T00:00:05Z');
    const plan = planRoute(younger, { ...seen, hostRoutes: [{ route: younger, tenant }], row: { route: 'acme/first', backends: [backend], suspended: false } }, { now });
    expect(plan.steps).toEqual([{ op: 'upsert-routing', host: 'shop.acme.example', pathPrefix: '/', route: 'acme/second', backends: [backend], suspended: false }]);
  });

  it('says NoHealthyBackends while no instance is ready, and AppNotFound for a missing app', () => {
    const empty = planRoute(route('shop', 'shop.acme.example'), { ...seen, backends: [] }, { now });
    expect(findCondition(empty.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'NoHealthyBackends' });
    expect(empty.steps).toEqual([{ op: 'upsert-routing', host: 'shop.acme.example', pathPrefix: '/', route: 'acme/shop', backends: [], suspended: false }]);
    const missing = planRoute(route('shop', 'shop.acme.example'), { ...seen, appExists: false }, { now });
    expect(findCondition(missing.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'AppNotFound' });
  });

  it('keeps a suspended tenant\'s host with no backends, marked suspended, and says TenantSuspended; serves it again on resume', () => {
    const suspended = { ...tenant, spec: { ...tenant.spec!, suspended: true } };
    const served = { route: 'acme/shop', backends: [backend], suspended: false };
    const plan = planRoute(route('shop', 'shop.acme.example'), { ...seen, tenant: suspended, row: served }, { now });
    expect(plan.steps).toEqual([{ op: 'upsert-routing', host: 'shop.acme.example', pathPrefix: '/', route: 'acme/shop', backends: [], suspended: true }]);
    expect(findCondition(plan.status.conditions, 'Accepted')?.status).toBe('True');
    expect(findCondition(plan.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'TenantSuspended', message: 'tenant acme is suspended: requests get 503 "service suspended"' });
    expect(plan.status.backends).toEqual([]);
    const row = { route: 'acme/shop', backends: [], suspended: true };
    expect(planRoute(route('shop', 'shop.acme.example'), { ...seen, tenant: suspended, row }, { now }).steps).toEqual([]);
    expect(planRoute(route('shop', 'shop.acme.example'), { ...seen, row }, { now }).steps).toEqual([
      { op: 'upsert-routing', host: 'shop.acme.example', pathPrefix: '/', route: 'acme/shop', backends: [backend], suspended: false },
    ]);
  });

  it('writes the rate limit in force into the routing row and status: the Route\'s own, else its tenant\'s default, burst one second\'s worth unless given', () => {
    const limited = (r: Route, rateLimit: NonNullable<Route['spec']>['rateLimit']): Route => ({ ...r, spec: { ...r.spec!, rateLimit } });
    const own = planRoute(limited(route('shop', 'shop.acme.example'), { requestsPerSecond: 50 }), seen, { now });
    expect(own.steps).toEqual([
      { op: 'upsert-routing', host: 'shop.acme.example', pathPrefix: '/', route: 'acme/shop', backends: [backend], suspended: false, rateLimit: { requestsPerSecond: 50, burst: 50 } },
    ]);
    expect(own.status.rateLimit).toEqual({ requestsPerSecond: 50, burst: 50, source: 'Route' });
    const withDefault = { ...tenant, spec: { ...tenant.spec!, defaultRateLimit: { requestsPerSecond: 10, burst: 3 } } };
    const inherited = planRoute(route('shop', 'shop.acme.example'), { ...seen, tenant: withDefault }, { now });
    expect(inherited.steps).toMatchObject([{ op: 'upsert-routing', rateLimit: { requestsPerSecond: 10, burst: 3 } }]);
    expect(inherited.status.rateLimit).toEqual({ requestsPerSecond: 10, burst: 3, source: 'Tenant' });
    // The Route's own limit replaces the default, higher too.
    const higher = planRoute(limited(route('shop', 'shop.acme.example'), { requestsPerSecond: 500, burst: 20 }), { ...seen, tenant: withDefault }, { now });
    expect(higher.status.rateLimit).toEqual({ requestsPerSecond: 500, burst: 20, source: 'Route' });
    // Unchanged: nothing written; a limit dropped: the row is written without one.
    const row = { route: 'acme/shop', backends: [backend], suspended: false, rateLimit: { burst: 50, requestsPerSecond: 50 } };
    expect(planRoute(limited(route('shop', 'shop.acme.example'), { requestsPerSecond: 50 }), { ...seen, row }, { now }).steps).toEqual([]);
    const dropped = planRoute(route('shop', 'shop.acme.example'), { ...seen, row }, { now });
    expect(dropped.steps).toEqual([{ op: 'upsert-routing', host: 'shop.acme.example', pathPrefix: '/', route: 'acme/shop', backends: [backend], suspended: false }]);
    expect(dropped.status.rateLimit).toBeUndefined();
    // A Route that is not served has no limit in force.
    expect(planRoute(limited(route('shop', 'shop.other.example'), { requestsPerSecond: 5 }), seen, { now }).status.rateLimit).toBeUndefined();
  });

  it('serves the oldest routes of a tenant up to spec.quota.routes and says QuotaExceeded for the newest', () => {
    const limited = { ...tenant, spec: { ...tenant.spec!, quota: { routes: 1 } } };
    const first = route('first', 'first.acme.example', '2026-01-01T00:00:00Z');
    const second = route('second', 'second.acme.example', '2026-01-01T00:00:05Z');
    const over = planRoute(second, { ...seen, tenant: limited, tenantRoutes: [first, second] }, { now });
    expect(findCondition(over.status.conditions, 'Accepted')).toMatchObject({ status: 'False', reason: 'QuotaExceeded', message: "tenant acme's route quota: 1 route allowed, this is route 2 of 2; it is not served" });
    expect(findCondition(over.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'QuotaExceeded' });
    expect(over.steps).toEqual([]);
    const within = planRoute(first, { ...seen, tenant: limited, tenantRoutes: [first, second] }, { now });
    expect(findCondition(within.status.conditions, 'Accepted')?.status).toBe('True');
    // Once the first goes, the second is within the quota and served.
    expect(planRoute(second, { ...seen, tenant: limited, tenantRoutes: [second] }, { now }).steps).toHaveLength(1);
    // A route over the quota that was served before stops being served.
    const servedBefore = planRoute(second, { ...seen, tenant: limited, tenantRoutes: [first, second], row: { route: 'acme/second', backends: [backend], suspended: false } }, { now });
    expect(servedBefore.steps).toEqual([{ op: 'delete-routing', host: 'second.acme.example', pathPrefix: '/', route: 'acme/second' }]);
  });

  it('removes the row it left at an old host after a host change, and its own row on deletion', () => {
    const moved = planRoute(route('shop', 'shop.acme.example'), { ...seen, servedAt: [{ host: 'old.acme.example', pathPrefix: '/' }] }, { now });
    expect(moved.steps[0]).toEqual({ op: 'delete-routing', host: 'old.acme.example', pathPrefix: '/', route: 'acme/shop' });
    const deleting = planRoute(route('shop', 'shop.acme.example', undefined, { deletionTimestamp: '2026-01-02T00:00:00Z' }), { ...seen, row: { route: 'acme/shop', backends: [], suspended: false }, servedAt: [{ host: 'shop.acme.example', pathPrefix: '/' }] }, { now });
    expect(deleting).toMatchObject({ release: true, steps: [{ op: 'delete-routing', host: 'shop.acme.example', pathPrefix: '/' }] });
  });

  describe('a host belongs to one tenant with all its path prefixes', () => {
    const victim: Tenant = { apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'victim', uid: 't-victim' }, spec: { namespaces: ['victim'], allowedHostnames: ['victim.example'] } };
    const rival: Tenant = { apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'rival', uid: 't-rival' }, spec: { namespaces: ['rival'], allowedHostnames: ['victim.example'] } };
    const home = route('home', 'victim.example', '2026-01-01T00:00:05Z', { namespace: 'victim' });
    // The rival's Route is the older object, and asks only for /login.
    const login = route('login', 'victim.example', '2026-01-01T00:00:00Z', { namespace: 'rival' }, '/login');
    const hostRoutes = [{ route: home, tenant: victim }, { route: login, tenant: rival }];
    const claims = [
      { host: 'victim.example', route: 'victim/home', routeUid: 'u-victim-home', tenant: 'victim', claimedAt: at(1) },
      { host: 'victim.example', route: 'rival/login', routeUid: 'u-rival-login', tenant: 'rival', claimedAt: at(2) },
    ];
    const observed = { ...seen, hostRoutes, hostTenants: [victim, rival], claims };

    it('refuses another tenant\'s Route for the host, whatever its prefix, with HostConflict naming neither the owner nor its Routes', () => {
      const plan = planRoute(login, { ...observed, tenant: rival }, { now });
      const accepted = findCondition(plan.status.conditions, 'Accepted');
      expect(accepted).toMatchObject({ status: 'False', reason: 'HostConflict', message: 'host victim.example belongs to another tenant, which claimed it first; a host is served by one tenant with all its path prefixes' });
      expect(accepted!.message).not.toMatch(/victim\/|home|victim[^.]/);
      expect(plan.steps).toEqual([]);
      expect(findCondition(planRoute(home, { ...observed, tenant: victim }, { now }).status.conditions, 'Accepted')?.status).toBe('True');
    });

    it('follows the recorded claim times, whatever the order of the rows', () => {
      const reversed = { ...observed, claims: [...claims].reverse() };
      expect(findCondition(planRoute(login, { ...reversed, tenant: rival }, { now }).status.conditions, 'Accepted')?.reason).toBe('HostConflict');
      const rivalFirst = { ...observed, claims: [{ ...claims[0]!, claimedAt: at(3) }, claims[1]!] };
      expect(findCondition(planRoute(home, { ...rivalFirst, tenant: victim }, { now }).status.conditions, 'Accepted')?.reason).toBe('HostConflict');
    });

    it('passes over the claim of a Route that is gone, re-created, or whose namespace changed tenant', () => {
      const gone = { ...observed, hostRoutes: [{ route: login, tenant: rival }] };
      expect(findCondition(planRoute(login, { ...gone, tenant: rival }, { now }).status.conditions, 'Accepted')?.status).toBe('True');
      const recreated = { ...observed, hostRoutes: [{ route: { ...home, metadata: { ...home.metadata, uid: 'other' } }, tenant: victim }, { route: login, tenant: rival }] };
      expect(findCondition(planRoute(login, { ...recreated, tenant: rival }, { now }).status.conditions, 'Accepted')?.status).toBe('True');
      const moved = { ...observed, hostRoutes: [{ route: home, tenant: rival }, { route: login, tenant: rival }] };
      expect(findCondition(planRoute(login, { ...moved, tenant: rival }, { now }).status.conditions, 'Accepted')?.status).toBe('True');
    });

    it('lets Routes of the owning tenant split the host by path prefix', () => {
      const api = route('api', 'victim.example', '2026-01-01T00:00:09Z', { namespace: 'victim' }, '/api');
      const plan = planRoute(api, { ...observed, tenant: victim, hostRoutes: [...hostRoutes, { route: api, tenant: victim }] }, { now });
      expect(findCondition(plan.status.conditions, 'Accepted')?.status).toBe('True');
      expect(plan.steps).toEqual([{ op: 'upsert-routing', host: 'victim.example', pathPrefix: '/api', route: 'victim/api', backends: [backend], suspended: false }]);
    });

    it('gives the host to the more specific allowedHostnames entry: a *.example tenant\'s Route for shop.example is refused', () => {
      const wide: Tenant = { ...rival, spec: { namespaces: ['rival'], allowedHostnames: ['*.example'] } };
      const shop: Tenant = { ...victim, spec: { namespaces: ['victim'], allowedHostnames: ['shop.example'] } };
      const wideRoute = route('shop', 'shop.example', '2026-01-01T00:00:00Z', { namespace: 'rival' });
      // Even with the earlier claim, the wildcard does not take a host the exact entry covers.
      const wideClaims = [{ host: 'shop.example', route: 'rival/shop', routeUid: 'u-rival-shop', tenant: 'rival', claimedAt: at(1) }];
      const plan = planRoute(wideRoute, { ...seen, tenant: wide, hostTenants: [wide, shop], hostRoutes: [{ route: wideRoute, tenant: wide }], claims: wideClaims }, { now });
      expect(findCondition(plan.status.conditions, 'Accepted')).toMatchObject({
        status: 'False', reason: 'HostConflict',
        message: 'host shop.example belongs to another tenant, whose allowedHostnames entry shop.example is more specific than this tenant\'s; it serves every path of the host',
      });
      expect(plan.steps).toEqual([]);
      // Other hosts under *.example stay the wildcard tenant's.
      const other = route('other', 'other.example', '2026-01-01T00:00:00Z', { namespace: 'rival' });
      expect(findCondition(planRoute(other, { ...seen, tenant: wide, hostTenants: [wide, shop] }, { now }).status.conditions, 'Accepted')?.status).toBe('True');
    });

    it('releases its claim after it stops serving: on deletion, and at the old host after a host change', () => {
      const deleting = { ...home, metadata: { ...home.metadata, deletionTimestamp: '2026-01-02T00:00:00Z' } };
      const plan = planRoute(deleting, { ...observed, tenant: victim, row: { route: 'victim/home', backends: [], suspended: false } }, { now });
      expect(plan.steps).toEqual([
        { op: 'delete-routing', host: 'victim.example', pathPrefix: '/', route: 'victim/home' },
        { op: 'release-host', host: 'victim.example', route: 'victim/home' },
      ]);
      const movedClaims = [{ ...claims[0]!, host: 'old.example' }];
      const moved = planRoute(home, { ...observed, tenant: victim, claims: movedClaims }, { now });
      expect(moved.steps).toContainEqual({ op: 'release-host', host: 'old.example', route: 'victim/home' });
    });
  });

  it('lists at most the schema\'s maxItems backends in status, while the routing row keeps them all', () => {
    const schema = JSON.parse(readFileSync(new URL('../../../schemas/route.schema.json', import.meta.url), 'utf8')) as {
      properties: { status: { properties: { backends: { maxItems: number } } } };
    };
    expect(MAX_STATUS_BACKENDS).toBe(schema.properties.status.properties.backends.maxItems);
    const many = Array.from({ length: MAX_STATUS_BACKENDS + 5 }, (_, i) => ({ address: '10.0.0.1', port: 10_000 + i, instance: `acme.web-${String(i).padStart(5, '0')}` }));
    const plan = planRoute(route('shop', 'shop.acme.example'), { ...seen, backends: many }, { now });
    expect(plan.status.backends).toHaveLength(MAX_STATUS_BACKENDS);
    expect(plan.steps).toMatchObject([{ op: 'upsert-routing', backends: many }]);
    expect(findCondition(plan.status.conditions ?? [], 'Ready')?.message).toBe(`${MAX_STATUS_BACKENDS + 5} healthy backends`);
  });
});
