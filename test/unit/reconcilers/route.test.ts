import { describe, expect, it } from 'vitest';
import type { Route } from '../../../api/types/route.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { hostAllowed, planRoute, type RouteObserved } from '../../../reconcilers/route.js';

const now = new Date('2026-01-02T03:04:05Z');
const tenant: Tenant = { apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['acme'], allowedHostnames: ['*.acme.example'] } };

function route(name: string, host: string, created = '2026-01-01T00:00:00Z', extra: Partial<Route['metadata']> = {}): Route {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name, namespace: 'acme', generation: 1, creationTimestamp: created, ...extra }, spec: { host, app: 'web' } };
}

const backend = { address: '10.0.0.1', port: 4000, instance: 'acme.web-1' };
const seen: RouteObserved = { tenant, appExists: true, competitors: [], backends: [backend], row: undefined, servedAt: [] };

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

  it('leaves a host to the older route and names it, and is never served meanwhile', () => {
    const older = route('first', 'shop.acme.example', '2026-01-01T00:00:00Z');
    const younger = route('second', 'shop.acme.example', '2026-01-01T00:00:05Z');
    const plan = planRoute(younger, { ...seen, competitors: [older, younger], row: { route: 'acme/first', backends: [backend], suspended: false } }, { now });
    expect(findCondition(plan.status.conditions, 'Accepted')).toMatchObject({ status: 'False', reason: 'HostConflict', message: 'shop.acme.example/ is served by route acme/first, created first' });
    expect(plan.steps).toEqual([]);
    expect(plan.status.url).toBeUndefined();
  });

  it('takes the host over once the older route is gone', () => {
    const younger = route('second', 'shop.acme.example', '2026-01-01T00:00:05Z');
    const plan = planRoute(younger, { ...seen, competitors: [younger], row: { route: 'acme/first', backends: [backend], suspended: false } }, { now });
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

  it('removes the row it left at an old host after a host change, and its own row on deletion', () => {
    const moved = planRoute(route('shop', 'shop.acme.example'), { ...seen, servedAt: [{ host: 'old.acme.example', pathPrefix: '/' }] }, { now });
    expect(moved.steps[0]).toEqual({ op: 'delete-routing', host: 'old.acme.example', pathPrefix: '/', route: 'acme/shop' });
    const deleting = planRoute(route('shop', 'shop.acme.example', undefined, { deletionTimestamp: '2026-01-02T00:00:00Z' }), { ...seen, row: { route: 'acme/shop', backends: [], suspended: false }, servedAt: [{ host: 'shop.acme.example', pathPrefix: '/' }] }, { now });
    expect(deleting).toMatchObject({ release: true, steps: [{ op: 'delete-routing', host: 'shop.acme.example', pathPrefix: '/' }] });
  });
});
