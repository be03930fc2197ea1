import { describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import type { AppInstance } from '../../../reconcilers/app.js';
import { noTenantVerdict } from '../../../reconcilers/no-tenant.js';

const now = new Date('2026-01-02T03:04:05Z');
const graceMs = 300_000;
const app: App = { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: 'shop', generation: 1 }, spec: { replicas: 2, command: ['x'], resources: { memory: '64Mi' } } };

function instance(id: string, extra: Partial<AppInstance> = {}): AppInstance {
  return { id, revision: 'r', node: 'n1', desired: 'running', phase: 'running', ready: true, createdAt: new Date(now.getTime() - 600_000), ...extra };
}

describe('noTenantVerdict', () => {
  it('marks running instances the first time, keeps them running and looks again when the grace ends', () => {
    const verdict = noTenantVerdict(app, [instance('a'), instance('b')], { now, graceMs });
    expect(verdict).toEqual({
      block: { reason: 'NoTenant', stop: false, message: "namespace shop belongs to no Tenant since 2026-01-02T03:04:05Z: its instances stop at 2026-01-02T03:09:05Z (grace 5m) unless you add it to a Tenant's spec.namespaces" },
      mark: true,
      requeueAfterMs: 300_000,
    });
  });

  it('counts the grace from the earliest recorded mark, and marks nothing twice', () => {
    const since = new Date(now.getTime() - 120_000);
    const verdict = noTenantVerdict(app, [instance('a', { noTenantSince: since }), instance('b', { noTenantSince: new Date(now.getTime() - 60_000) })], { now, graceMs });
    expect(verdict).toMatchObject({ mark: false, requeueAfterMs: 180_000, block: { stop: false } });
    expect(verdict.block.message).toContain('since 2026-01-02T03:02:05Z: its instances stop at 2026-01-02T03:07:05Z');
  });

  it('stops the instances once the grace has passed', () => {
    const verdict = noTenantVerdict(app, [instance('a', { noTenantSince: new Date(now.getTime() - graceMs) })], { now, graceMs });
    expect(verdict).toEqual({
      block: { reason: 'NoTenant', stop: true, message: "namespace shop belongs to no Tenant since 2026-01-02T02:59:05Z: its instances are stopped (grace 5m); add it to a Tenant's spec.namespaces to start them again" },
      mark: false,
    });
  });

  it('has nothing to wait for when nothing runs', () => {
    const stopping = instance('a', { desired: 'stopped', phase: 'stopping' });
    expect(noTenantVerdict(app, [stopping], { now, graceMs })).toEqual({
      block: { reason: 'NoTenant', stop: true, message: "namespace shop belongs to no Tenant: add it to a Tenant's spec.namespaces" },
      mark: false,
    });
  });

  it('writes the grace as the flag takes it', () => {
    expect(noTenantVerdict(app, [instance('a')], { now, graceMs: 90_000 }).block.message).toContain('(grace 90s)');
    expect(noTenantVerdict(app, [instance('a')], { now, graceMs: 1_500 }).block.message).toContain('(grace 1500ms)');
  });
});
