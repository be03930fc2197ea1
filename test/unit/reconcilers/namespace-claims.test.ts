import { describe, expect, it } from 'vitest';
import type { Tenant } from '../../../api/types/tenant.js';
import { namespaceOwner, planClaims, type NamespaceClaim } from '../../../reconcilers/namespace-claims.js';

function tenant(name: string, namespaces: string[], extra: Partial<Tenant['metadata']> = {}): Tenant {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name, uid: `u-${name}`, ...extra }, spec: { namespaces } };
}
const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));
const claim = (namespace: string, t: string, minute: number, uid = `u-${t}`): NamespaceClaim => ({ namespace, tenant: t, tenantUid: uid, claimedAt: at(minute) });

describe('namespaceOwner', () => {
  const lookup = (...tenants: Tenant[]) => (name: string) => tenants.find((t) => t.metadata.name === name);

  it('is the first claimant by claim time, whatever the age of the Tenant objects or the order of the rows', () => {
    const older = tenant('acme', ['shop'], { creationTimestamp: '2020-01-01T00:00:00Z' });
    const newer = tenant('beta', ['shop'], { creationTimestamp: '2026-01-01T00:00:00Z' });
    const claims = [claim('shop', 'acme', 5), claim('shop', 'beta', 3)];
    expect(namespaceOwner('shop', claims, lookup(older, newer))?.metadata.name).toBe('beta');
    expect(namespaceOwner('shop', [...claims].reverse(), lookup(newer, older))?.metadata.name).toBe('beta');
  });

  it('passes over a claim whose Tenant is gone, was re-created (other uid) or no longer lists the namespace', () => {
    const next = tenant('next', ['shop']);
    expect(namespaceOwner('shop', [claim('shop', 'gone', 1), claim('shop', 'next', 2)], lookup(next))?.metadata.name).toBe('next');
    expect(namespaceOwner('shop', [claim('shop', 'acme', 1, 'old-uid'), claim('shop', 'next', 2)], lookup(tenant('acme', ['shop']), next))?.metadata.name).toBe('next');
    expect(namespaceOwner('shop', [claim('shop', 'acme', 1), claim('shop', 'next', 2)], lookup(tenant('acme', []), next))?.metadata.name).toBe('next');
  });

  it('is nobody when no listed Tenant has a claim yet', () => {
    expect(namespaceOwner('shop', [], () => tenant('acme', ['shop']))).toBeUndefined();
  });
});

describe('planClaims', () => {
  it('claims each listed namespace without a claim and releases the claims on namespaces it stopped listing', () => {
    const t = tenant('acme', ['a', 'b']);
    expect(planClaims(t, [claim('a', 'acme', 1), claim('c', 'acme', 1), claim('b', 'other', 1)])).toEqual({ claim: ['b'], release: ['c'] });
  });

  it('claims anew where the recorded claim belongs to an earlier Tenant of the same name', () => {
    expect(planClaims(tenant('acme', ['a']), [claim('a', 'acme', 1, 'old-uid')])).toEqual({ claim: ['a'], release: [] });
  });

  it('does nothing in steady state, and a Tenant being deleted claims nothing new', () => {
    expect(planClaims(tenant('acme', ['a']), [claim('a', 'acme', 1)])).toEqual({ claim: [], release: [] });
    expect(planClaims(tenant('acme', ['a'], { deletionTimestamp: '2026-01-01T00:00:00Z' }), [])).toEqual({ claim: [], release: [] });
  });
});
