import { describe, expect, it } from 'vitest';
import type { Tenant } from '../../../api/types/tenant.js';
import { findCondition } from '../../../framework/conditions/index.js';
import {
  bestPattern, hostKeys, hostnamesCondition, matchedKeys, moreSpecificElsewhere, overlapKeys, patternKeys, patternMatches, patternsOverlap,
} from '../../../reconcilers/hostnames.js';
import { planTenant, type TenantObserved } from '../../../reconcilers/tenant.js';

const tenant = (name: string, allowedHostnames: string[]): Tenant => ({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name, generation: 1 }, spec: { namespaces: [], allowedHostnames } });

describe('host name patterns', () => {
  it('match like allowedHostnames: a wildcard covers names below its domain, not the domain or a lookalike', () => {
    expect(patternMatches('*.example', 'shop.example')).toBe(true);
    expect(patternMatches('*.example', 'a.b.example')).toBe(true);
    expect(patternMatches('*.example', 'example')).toBe(false);
    expect(patternMatches('*.example', 'badexample')).toBe(false);
    expect(patternMatches('shop.example', 'Shop.Example')).toBe(true);
  });

  it('overlap when some host matches both', () => {
    const cases: [string, string, boolean][] = [
      ['*.example', 'shop.example', true],
      ['*.example', 'example', false],
      ['*.example', '*.shop.example', true],
      ['*.example', '*.example', true],
      ['shop.example', 'shop.example', true],
      ['shop.example', 'shop2.example', false],
      ['*.shop.example', 'shop.example', false],
      ['*.a.example', '*.b.example', false],
      ['*.example', 'badexample', false],
    ];
    for (const [a, b, overlap] of cases) {
      expect(patternsOverlap(a, b), `${a} × ${b}`).toBe(overlap);
      expect(patternsOverlap(b, a), `${b} × ${a}`).toBe(overlap);
    }
  });

  it('are found through the index for every overlap and every host they match (the keys never miss one)', () => {
    const patterns = ['*.example', 'shop.example', '*.shop.example', 'a.shop.example', 'example', '*.other', 'x.other', '*.a.b.c.example'];
    for (const p of patterns) {
      for (const q of patterns) {
        if (patternsOverlap(p, q)) expect(overlapKeys(p).some((k) => patternKeys(q).includes(k)), `${p} finds ${q}`).toBe(true);
      }
    }
    for (const host of ['shop.example', 'a.shop.example', 'example', 'x.other', 'deep.a.b.c.example']) {
      for (const p of patterns) {
        if (patternMatches(p, host)) {
          expect(hostKeys(host).some((k) => patternKeys(p).includes(k)), `${host} finds ${p}`).toBe(true);
          expect(matchedKeys(p).some((k) => patternKeys(host).includes(k)), `${p} finds host ${host}`).toBe(true);
        }
      }
    }
  });

  it('give a host to the most specific entry: exact over wildcard, deeper wildcard over shallower', () => {
    expect(bestPattern('a.shop.example', ['*.example', '*.shop.example'])).toBe('*.shop.example');
    expect(moreSpecificElsewhere('shop.example', tenant('wide', ['*.example']), [tenant('shop', ['shop.example'])])).toBe('shop.example');
    expect(moreSpecificElsewhere('x.shop.example', tenant('wide', ['*.example']), [tenant('shop', ['*.shop.example'])])).toBe('*.shop.example');
    expect(moreSpecificElsewhere('other.example', tenant('wide', ['*.example']), [tenant('shop', ['shop.example'])])).toBeUndefined();
    expect(moreSpecificElsewhere('shop.example', tenant('shop', ['shop.example']), [tenant('wide', ['*.example'])])).toBeUndefined();
    // The same entry on two tenants is a tie: the first claim decides (reconcilers/host-claims.ts).
    expect(moreSpecificElsewhere('shop.example', tenant('a', ['shop.example']), [tenant('b', ['shop.example'])])).toBeUndefined();
  });
});

describe('the HostnamesExclusive condition', () => {
  const wide = tenant('wide', ['*.example']);
  const shop = tenant('shop', ['shop.example']);

  it('reports an overlap on both tenants, saying which pattern takes the shared hosts', () => {
    expect(hostnamesCondition(wide, [shop])).toEqual({
      type: 'HostnamesExclusive', status: 'False', reason: 'HostnamesOverlap',
      message: '*.example overlaps shop.example of tenant shop: shop.example is more specific and takes the hosts it covers',
    });
    expect(hostnamesCondition(shop, [wide])).toEqual({
      type: 'HostnamesExclusive', status: 'False', reason: 'HostnamesOverlap',
      message: 'shop.example overlaps *.example of tenant wide: shop.example is more specific and takes the hosts it covers',
    });
    expect(hostnamesCondition(shop, [tenant('twin', ['shop.example'])]).message).toBe(
      'shop.example is also allowed to tenant twin: each host it matches goes to the tenant whose Route claims it first',
    );
    expect(hostnamesCondition(shop, [tenant('elsewhere', ['*.other']), shop])).toMatchObject({ status: 'True', reason: 'Exclusive' });
  });

  it('lists at most five overlaps in its message', () => {
    const many = Array.from({ length: 9 }, (_, i) => tenant(`t${i}`, [`*.example`]));
    expect(hostnamesCondition(wide, many).message).toMatch(/; and 4 more$/);
  });

  it('is part of the Tenant\'s status without making it not Ready', () => {
    const observed: TenantObserved = { claimants: [], claims: [], overlapping: [shop], apps: [], routes: [], volumes: [], row: undefined, placed: { memory: 0, cpu: 0, instances: 0 } };
    const plan = planTenant(wide, observed, { now: new Date('2026-01-02T00:00:00Z') });
    expect(findCondition(plan.status.conditions, 'HostnamesExclusive')).toMatchObject({ status: 'False', reason: 'HostnamesOverlap' });
    expect(findCondition(plan.status.conditions, 'Ready')?.status).toBe('True');
  });
});
