import { describe, expect, it } from 'vitest';
import type { Route } from '../../../api/types/route.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { claimNeeded, mayServe } from '../../../reconcilers/host-claims.js';

const tenant = (name: string, allowedHostnames: string[]): Tenant => ({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name }, spec: { namespaces: [name], allowedHostnames } });
const route = (extra: Partial<Route['metadata']> = {}): Route => ({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name: 'web', namespace: 'shop', uid: 'u1', ...extra }, spec: { host: 'shop.example', app: 'web' } });
const claim = { host: 'shop.example', route: 'shop/web', routeUid: 'u1', tenant: 'shop', claimedAt: new Date(0) };

describe('claimNeeded', () => {
  const shop = tenant('shop', ['shop.example']);

  it('claims the host for a tenant that may serve it, once', () => {
    expect(claimNeeded(route(), shop, [], [shop])).toEqual({ host: 'shop.example', tenant: 'shop' });
    expect(claimNeeded(route(), shop, [claim], [shop])).toBeUndefined();
  });

  it('claims anew for a re-created Route or a namespace now of another tenant', () => {
    expect(claimNeeded(route({ uid: 'u2' }), shop, [claim], [shop])).toEqual({ host: 'shop.example', tenant: 'shop' });
    const other = tenant('other', ['shop.example']);
    expect(claimNeeded(route(), other, [claim], [shop, other])).toEqual({ host: 'shop.example', tenant: 'other' });
  });

  it('claims nothing for a tenant that may not serve the host, one outdone by a more specific entry, or a Route being deleted', () => {
    expect(claimNeeded(route(), tenant('shop', ['*.other']), [], [])).toBeUndefined();
    const wide = tenant('shop', ['*.example']);
    expect(mayServe('shop.example', wide, [wide, tenant('exact', ['shop.example'])])).toBe(false);
    expect(claimNeeded(route(), wide, [], [wide, tenant('exact', ['shop.example'])])).toBeUndefined();
    expect(claimNeeded(route({ deletionTimestamp: '2026-01-01T00:00:00Z' }), shop, [], [shop])).toBeUndefined();
    expect(claimNeeded(route(), undefined, [], [])).toBeUndefined();
  });
});
