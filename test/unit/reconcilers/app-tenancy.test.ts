import { describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import type { Tenant } from '../../../api/types/tenant.js';
import type { AppInstance } from '../../../reconcilers/app.js';
import { appTenancyVerdict, heldRequeueAfter } from '../../../reconcilers/app-tenancy.js';

const now = new Date('2026-01-02T03:04:05Z');
const env = { now, graceMs: 300_000 };
const app: App = { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: 'shop', generation: 1 }, spec: { command: ['x'], resources: { memory: '64Mi' } } };
const tenant = (suspended = false): Tenant => ({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['shop'], suspended } });

function instance(id: string, extra: Partial<AppInstance> = {}): AppInstance {
  return { id, revision: 'r', node: 'n1', desired: 'running', phase: 'running', ready: true, createdAt: new Date(now.getTime() - 600_000), ...extra };
}

describe('appTenancyVerdict', () => {
  it('lets an App of an active Tenant run, writing nothing', () => {
    expect(appTenancyVerdict(app, tenant(), [instance('a')], env)).toEqual({ mark: false, clear: false });
  });

  it('clears the no-tenant marks once a Tenant claims the namespace again', () => {
    expect(appTenancyVerdict(app, tenant(), [instance('a', { noTenantSince: now })], env)).toEqual({ mark: false, clear: true });
  });

  it('holds an App of a suspended Tenant and stops its instances now', () => {
    expect(appTenancyVerdict(app, tenant(true), [instance('a')], env)).toEqual({
      block: {
        reason: 'TenantSuspended',
        message: 'tenant acme is suspended (spec.suspended): its instances are stopped and its routes answer 503; set spec.suspended to false to start them again',
        stop: true,
      },
      mark: false,
      clear: false,
    });
  });

  it('holds an App no Tenant owns for the grace: marks its instances and looks again when the grace ends', () => {
    const verdict = appTenancyVerdict(app, undefined, [instance('a')], env);
    expect(verdict).toMatchObject({ block: { reason: 'NoTenant', stop: false }, mark: true, clear: false, requeueAfterMs: 300_000 });
  });
});

describe('heldRequeueAfter', () => {
  const held = { mark: false, clear: false };
  it('takes the sooner of the held plan and the grace, or the one that asks', () => {
    expect(heldRequeueAfter(2_000, { ...held, requeueAfterMs: 300_000 })).toBe(2_000);
    expect(heldRequeueAfter(2_000, { ...held, requeueAfterMs: 500 })).toBe(500);
    expect(heldRequeueAfter(undefined, { ...held, requeueAfterMs: 500 })).toBe(500);
    expect(heldRequeueAfter(undefined, held)).toBeUndefined();
  });
});
