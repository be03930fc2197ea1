import { describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { planTenant, type TenantObserved } from '../../../reconcilers/tenant.js';

const now = new Date('2026-01-02T03:04:05Z');

function tenant(name: string, spec: Tenant['spec'], extra: Partial<Tenant['metadata']> = {}): Tenant {
  return {
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'Tenant',
    metadata: { name, generation: 1, creationTimestamp: '2026-01-01T00:00:00Z', ...extra },
    spec,
  };
}

function app(namespace: string, name: string, replicas: number, memory: string, cpu?: string): App {
  return {
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'App',
    metadata: { name, namespace },
    spec: { replicas, resources: { memory, ...(cpu ? { cpu } : {}) } },
  };
}

const nothing: TenantObserved = { claimants: [], claims: [], overlapping: [], apps: [], routes: [], volumes: [], row: undefined, placed: { memory: 0, cpu: 0, instances: 0 } };
const Mi = 1024 ** 2;

describe('planTenant', () => {
  it('writes the row of a new tenant and reports it Ready with zero usage', () => {
    const t = tenant('acme', { namespaces: ['acme-prod', 'acme-dev'] });
    const plan = planTenant(t, nothing, { now });
    expect(plan.steps).toEqual([{ op: 'upsert-row', generation: 1, namespaces: ['acme-dev', 'acme-prod'] }]);
    expect(findCondition(plan.status.conditions, 'Ready')).toMatchObject({ status: 'True', observedGeneration: 1 });
    expect(plan.status.usage).toEqual({ memory: '0', cpu: '0', instances: 0, apps: 0, volumes: 0, storage: '0', routes: 0 });
    expect(plan.status.observedGeneration).toBe(1);
  });

  it('plans nothing when the row and status already match (steady state is free)', () => {
    const t = tenant('acme', { namespaces: ['acme-prod'] });
    const first = planTenant(t, nothing, { now });
    const settled = { ...t, status: first.status };
    const again = planTenant(settled, { ...nothing, row: { generation: 1, namespaces: ['acme-prod'] } }, { now: new Date(now.getTime() + 60_000) });
    expect(again.steps).toEqual([]);
    expect(again.status).toEqual(settled.status);
  });

  it('writes the row again when the spec changes', () => {
    const t = tenant('acme', { namespaces: ['a', 'b'] }, { generation: 2 });
    const plan = planTenant(t, { ...nothing, row: { generation: 1, namespaces: ['a'] } }, { now });
    expect(plan.steps).toEqual([{ op: 'upsert-row', generation: 2, namespaces: ['a', 'b'] }]);
  });

  it('never overwrites a row written from a newer generation than the cache shows', () => {
    const t = tenant('acme', { namespaces: ['a'] }, { generation: 2 });
    expect(planTenant(t, { ...nothing, row: { generation: 3, namespaces: ['a', 'b'] } }, { now }).steps).toEqual([]);
  });

  it('gives a namespace claimed twice to the tenant that claimed it first, not the older object, and names it in the other one\'s condition', () => {
    const older = tenant('acme', { namespaces: ['shared'] }, { uid: 'u-acme', creationTimestamp: '2026-01-01T00:00:00Z' });
    const younger = tenant('beta', { namespaces: ['shared', 'beta'] }, { uid: 'u-beta', creationTimestamp: '2026-01-01T00:00:09Z' });
    // beta listed `shared` first; acme, the older Tenant, added it later.
    const claims = [
      { namespace: 'shared', tenant: 'beta', tenantUid: 'u-beta', claimedAt: new Date('2026-01-01T00:01:00Z') },
      { namespace: 'beta', tenant: 'beta', tenantUid: 'u-beta', claimedAt: new Date('2026-01-01T00:01:00Z') },
      { namespace: 'shared', tenant: 'acme', tenantUid: 'u-acme', claimedAt: new Date('2026-01-01T00:02:00Z') },
    ];
    const plan = planTenant(older, { ...nothing, claimants: [older, younger], claims }, { now });
    expect(findCondition(plan.status.conditions, 'NamespacesClaimed')).toMatchObject({
      status: 'False',
      reason: 'NamespaceConflict',
      message: 'namespace shared belongs to tenant beta (claimed first)',
    });
    expect(findCondition(plan.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'NamespaceConflict' });
    expect(plan.steps).toEqual([{ op: 'upsert-row', generation: 1, namespaces: [] }]);
    const winner = planTenant(younger, { ...nothing, claimants: [older, younger], claims }, { now });
    expect(findCondition(winner.status.conditions, 'Ready')?.status).toBe('True');
    expect(winner.steps).toEqual([{ op: 'upsert-row', generation: 1, namespaces: ['beta', 'shared'] }]);
  });

  it('hands a namespace to the next claimant once the first no longer lists it, before its claim is released', () => {
    const first = tenant('acme', { namespaces: [] }, { uid: 'u-acme' });
    const next = tenant('beta', { namespaces: ['shared'] }, { uid: 'u-beta' });
    const claims = [
      { namespace: 'shared', tenant: 'acme', tenantUid: 'u-acme', claimedAt: new Date('2026-01-01T00:01:00Z') },
      { namespace: 'shared', tenant: 'beta', tenantUid: 'u-beta', claimedAt: new Date('2026-01-01T00:02:00Z') },
    ];
    const plan = planTenant(next, { ...nothing, claimants: [first, next], claims }, { now });
    expect(findCondition(plan.status.conditions, 'NamespacesClaimed')).toMatchObject({ status: 'True', message: 'owns namespace shared' });
  });

  it('reports a suspended tenant not Ready with reason Suspended', () => {
    const plan = planTenant(tenant('acme', { suspended: true }), nothing, { now });
    expect(findCondition(plan.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'Suspended' });
  });

  it('reports what is placed as usage, not what the apps ask for, and flags an exceeded quota', () => {
    const t = tenant('acme', { namespaces: ['a'], quota: { memory: '1Gi', apps: 1, instances: 3 } });
    // web asks for 3 × 512Mi, but the memory quota let only 2 be placed: usage is what is placed.
    const apps = [app('a', 'web', 3, '512Mi', '250m'), app('a', 'db', 1, '256Mi'), app('elsewhere', 'x', 9, '9Gi')];
    const plan = planTenant(t, { ...nothing, apps, placed: { memory: 1024 * Mi, cpu: 500, instances: 2 } }, { now });
    expect(plan.status.usage).toMatchObject({ apps: 2, memory: '1Gi', cpu: '500m', instances: 2 });
    expect(findCondition(plan.status.conditions, 'WithinQuota')).toMatchObject({ status: 'False', reason: 'QuotaExceeded', message: 'apps: 2 of 1' });
  });

  it('flags placed instances above spec.quota.instances (the quota was lowered)', () => {
    const t = tenant('acme', { namespaces: ['a'], quota: { instances: 3 } });
    const plan = planTenant(t, { ...nothing, placed: { memory: 5 * 64 * Mi, cpu: 500, instances: 5 } }, { now });
    expect(findCondition(plan.status.conditions, 'WithinQuota')).toMatchObject({ status: 'False', reason: 'QuotaExceeded', message: 'instances: 5 of 3' });
  });

  it('says CPUQuotaExceeded when only the soft CPU quota is over, and QuotaExceeded once a hard one is too', () => {
    const t = tenant('acme', { namespaces: ['a'], quota: { cpu: '1', instances: 4 } });
    const soft = planTenant(t, { ...nothing, placed: { memory: 4 * 64 * Mi, cpu: 1500, instances: 4 } }, { now });
    expect(findCondition(soft.status.conditions, 'WithinQuota')).toMatchObject({ status: 'False', reason: 'CPUQuotaExceeded', message: 'cpu: 1500m of 1' });
    expect(findCondition(soft.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'CPUQuotaExceeded' });
    const both = planTenant(t, { ...nothing, placed: { memory: 5 * 64 * Mi, cpu: 1500, instances: 5 } }, { now });
    expect(findCondition(both.status.conditions, 'WithinQuota')).toMatchObject({ status: 'False', reason: 'QuotaExceeded', message: 'instances: 5 of 4; cpu: 1500m of 1' });
  });

  it('counts the routes of its namespaces and flags more than spec.quota.routes', () => {
    const route = (namespace: string, name: string) => ({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name, namespace }, spec: { host: `${name}.example`, app: 'web' } }) as const;
    const t = tenant('acme', { namespaces: ['a'], quota: { routes: 1 } });
    const plan = planTenant(t, { ...nothing, routes: [route('a', 'one'), route('a', 'two'), route('elsewhere', 'three')] }, { now });
    expect(plan.status.usage?.routes).toBe(2);
    expect(findCondition(plan.status.conditions, 'WithinQuota')).toMatchObject({ status: 'False', reason: 'QuotaExceeded', message: 'routes: 2 of 1' });
  });

  it('costs the same for replicas: 2147483647 as for 1 (usage is never a loop over replicas)', () => {
    const t = tenant('acme', { namespaces: ['a'] });
    const apps = [app('a', 'huge', 2_147_483_647, '1')];
    const started = performance.now();
    const plan = planTenant(t, { ...nothing, apps, placed: { memory: 80, cpu: 8000, instances: 80 } }, { now });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(plan.status.usage).toMatchObject({ memory: '80', cpu: '8', instances: 80 });
  });

  it('blocks deletion while apps, routes or volumes remain, and says how many', () => {
    const t = tenant('acme', { namespaces: ['a'] }, { deletionTimestamp: '2026-01-02T00:00:00Z', finalizers: ['tend.dev/tenant'] });
    const plan = planTenant(t, { ...nothing, apps: [app('a', 'web', 1, '1Mi'), app('a', 'db', 1, '1Mi'), app('a', 'q', 1, '1Mi')] }, { now });
    expect(plan.release).toBe(false);
    expect(findCondition(plan.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'DeletionBlocked', message: expect.stringMatching(/^3 apps remain/) });
  });

  it('releases a deleted tenant with nothing left, removing its row and its namespace claims', () => {
    const t = tenant('acme', { namespaces: ['a'] }, { deletionTimestamp: '2026-01-02T00:00:00Z' });
    const plan = planTenant(t, { ...nothing, row: { generation: 1, namespaces: ['a'] } }, { now });
    expect(plan).toMatchObject({ release: true, steps: [{ op: 'delete-row' }, { op: 'release-claims' }] });
  });

  it('keeps lastTransitionTime when a condition keeps its status', () => {
    const t = tenant('acme', {});
    const first = planTenant(t, nothing, { now });
    const later = planTenant({ ...t, status: first.status }, nothing, { now: new Date(now.getTime() + 3_600_000) });
    expect(findCondition(later.status.conditions, 'Ready')?.lastTransitionTime).toBe('2026-01-02T03:04:05Z');
  });
});
