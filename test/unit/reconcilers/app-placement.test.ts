import { describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import type { Tenant } from '../../../api/types/tenant.js';
import type { AppPlan, AppInstance } from '../../../reconcilers/app.js';
import {
  appRequeueAfter, attemptOutcome, CONTENTION_REQUEUE_MS, placementAsk, placementRefusal, placementVerdict, planAppPlacement, tenantBudget,
} from '../../../reconcilers/app-placement.js';
import { PLACEMENT_BATCH, type ScheduleResult } from '../../../reconcilers/scheduler.js';

const Mi = 2 ** 20;
const Gi = 2 ** 30;

function app(spec: Partial<NonNullable<App['spec']>> = {}, name = 'web'): App {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name, namespace: 'acme', generation: 1 }, spec: { replicas: 2, command: ['x'], resources: { memory: '64Mi', cpu: '250m' }, ...spec } };
}
const tenant = (quota: NonNullable<Tenant['spec']>['quota'] = {}): Tenant => ({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['acme'], quota } });

const template = { command: ['x'], env: {} };
/** A plan with a place step; `converged` (no requeue asked) or looking again after `requeueAfterMs`. */
const plan = (requeueAfterMs: number | 'converged' = 2_000): AppPlan => ({
  revision: 'r1', template, requeueAfterMs: requeueAfterMs === 'converged' ? undefined : requeueAfterMs,
  steps: [{ op: 'forget', id: 'gone' }, { op: 'place', revision: 'r1', count: 2 }, { op: 'stop', id: 'old', why: 'replaced by revision r1' }],
});
const ops = (p: AppPlan) => p.steps.map((s) => s.op);

describe('placementRefusal', () => {
  it('gives the instance sizes, cpu defaulting to 100m', () => {
    expect(placementRefusal(app({ resources: { memory: '64Mi' } }), tenant(), [])).toEqual({ memory: 64 * Mi, cpu: 100 });
  });

  it('refuses an App beyond its tenant’s app count, or with a size no node takes', () => {
    const older = { ...app({}, 'a'), metadata: { name: 'a', namespace: 'acme', creationTimestamp: '2026-01-01T00:00:00Z' } };
    const newer = { ...app({}, 'b'), metadata: { name: 'b', namespace: 'acme', creationTimestamp: '2026-01-02T00:00:00Z' } };
    expect(placementRefusal(newer, tenant({ apps: 1 }), [older, newer]).refused).toMatchObject({ reason: 'QuotaExceeded' });
    expect(placementRefusal(older, tenant({ apps: 1 }), [older, newer]).refused).toBeUndefined();
    expect(placementRefusal(app({ resources: { memory: '1m' } }), tenant(), []).refused).toMatchObject({ reason: 'InvalidResources' });
  });
});

describe('planAppPlacement', () => {
  const sizes = { memory: 64 * Mi, cpu: 250 };

  it('keeps the plan whole when nothing blocks placement', () => {
    const placement = planAppPlacement(plan(), sizes, {});
    expect(ops(placement.plan)).toEqual(['forget', 'place', 'stop']);
    expect(placement).toMatchObject({ blocked: false, outcome: { placed: 0 }, converged: false });
  });

  it('drops the place step, keeping stops and forgets, while the tenant or sizes refuse it', () => {
    const refused = { reason: 'QuotaExceeded', message: 'over' };
    const placement = planAppPlacement(plan('converged'), { ...sizes, refused }, {});
    expect(ops(placement.plan)).toEqual(['forget', 'stop']);
    expect(placement).toMatchObject({ blocked: true, outcome: { placed: 0, unplaced: refused }, converged: false });
  });

  it('places nothing while its volumes have no node, and says why; contention is passed on', () => {
    const unplaced = { reason: 'Unschedulable', message: 'other volumes took the free disk first; trying again' };
    const placement = planAppPlacement(plan(), sizes, { unplaced, contended: true });
    expect(ops(placement.plan)).toEqual(['forget', 'stop']);
    expect(placement.outcome).toEqual({ placed: 0, unplaced, contended: true });
  });

  it('places on the volumes’ node while still explaining replicas a single writer does not run', () => {
    const unplaced = { reason: 'VolumeSingleWriter', message: 'at most 1 instance runs' };
    const placement = planAppPlacement(plan(), sizes, { pinnedNode: 'n1', unplaced });
    expect(ops(placement.plan)).toEqual(['forget', 'place', 'stop']);
    expect(placement).toMatchObject({ blocked: false, outcome: { placed: 0, unplaced } });
  });

  it('is converged only when the plan is and placement is not held', () => {
    expect(planAppPlacement(plan('converged'), sizes, {}).converged).toBe(true);
    expect(planAppPlacement(plan('converged'), sizes, { unplaced: { reason: 'VolumeNotFound', message: '' } }).converged).toBe(false);
  });
});

describe('placementAsk', () => {
  const instance = (id: string, node: string, desired: AppInstance['desired'] = 'running'): AppInstance => ({ id, revision: 'r0', node, desired, phase: 'running', ready: true, createdAt: new Date(0) });

  it('asks for at most one batch, with the App’s placement, its instances per node and the tenant’s quota', () => {
    const a = app({ placement: { nodeSelector: { zone: 'a' }, strategy: 'spread' } });
    const ask = placementAsk(a, tenant({ memory: '1Gi', cpu: '2', instances: 10 }), [instance('i1', 'n1'), instance('i2', 'n1'), instance('i3', 'n2', 'stopped')], PLACEMENT_BATCH + 5, { memory: 64 * Mi, cpu: 250 }, { pinnedNode: 'n1' });
    expect(ask).toEqual({
      count: PLACEMENT_BATCH, more: true, memory: 64 * Mi, cpu: 250, nodeSelector: { zone: 'a' }, strategy: 'spread',
      existingByNode: { n1: 2 }, quota: { memory: Gi, cpu: 2_000, instances: 10 }, pinnedNode: 'n1',
    });
    expect(placementAsk(app(), tenant(), [], 3, { memory: 64 * Mi, cpu: 250 }, {})).toMatchObject({ count: 3, more: false, strategy: 'binpack', nodeSelector: {}, quota: {} });
  });
});

describe('tenantBudget', () => {
  it('carries the limits the quota sets and the usage', () => {
    expect(tenantBudget({ memory: Gi }, { memory: 1, cpu: 2, instances: 3 })).toEqual({ memoryLimit: Gi, memoryUsed: 1, cpuUsed: 2, instancesUsed: 3 });
  });
});

describe('attemptOutcome', () => {
  const placements = (n: number) => Array.from({ length: n }, () => ({ app: 'acme/web', node: 'n1' }));
  const result = (n: number, unplaced: ScheduleResult['unplaced'] = []): ScheduleResult => ({ placements: placements(n), unplaced, warnings: [] });

  it('reports contention when fewer went in than the snapshot promised', () => {
    expect(attemptOutcome(result(3), 1, { count: 3, more: false })).toEqual({ placed: 1, contended: true });
  });

  it('asks for the next batch at once only when this one went in whole', () => {
    expect(attemptOutcome(result(3), 3, { count: 3, more: true })).toEqual({ placed: 3, more: true });
    expect(attemptOutcome(result(3), 3, { count: 3, more: false })).toEqual({ placed: 3 });
  });

  it('joins the scheduler’s reasons for what does not fit, the first reason leading', () => {
    const unplaced = [
      { app: 'acme/web', count: 1, reason: 'Unschedulable' as const, message: '0/1 nodes' },
      { app: 'acme/web', count: 1, reason: 'QuotaExceeded' as const, message: 'quota' },
    ];
    expect(attemptOutcome(result(1, unplaced), 1, { count: 3, more: true })).toEqual({ placed: 1, unplaced: { reason: 'Unschedulable', message: '0/1 nodes; quota' } });
  });
});

describe('placementVerdict', () => {
  it('lets the volumes explain replicas the scheduler was never asked for, but not override its own reason', () => {
    const single = { reason: 'VolumeSingleWriter', message: 'one writer' };
    expect(placementVerdict({ placed: 1 }, { pinnedNode: 'n1', unplaced: single })).toEqual({ placed: 1, unplaced: single });
    const own = { reason: 'Unschedulable', message: 'full' };
    expect(placementVerdict({ placed: 0, unplaced: own }, { unplaced: single })).toEqual({ placed: 0, unplaced: own });
  });
});

describe('appRequeueAfter', () => {
  it('turns contention into a requeue within the jitter window, drawn from the injected random', () => {
    expect(appRequeueAfter(plan(), { placed: 0, contended: true }, () => 0)).toBe(CONTENTION_REQUEUE_MS.base);
    expect(appRequeueAfter(plan(), { placed: 0, contended: true }, () => 0.5)).toBe(CONTENTION_REQUEUE_MS.base + CONTENTION_REQUEUE_MS.jitter / 2);
    expect(appRequeueAfter(plan(), { placed: 0, contended: true }, () => 0.9999)).toBeLessThan(CONTENTION_REQUEUE_MS.base + CONTENTION_REQUEUE_MS.jitter);
  });

  it('comes back at once for the next batch, else when the plan asks, else not at all', () => {
    expect(appRequeueAfter(plan(), { placed: 100, more: true }, () => 0)).toBe(0);
    expect(appRequeueAfter(plan(2_000), { placed: 0 }, () => 0)).toBe(2_000);
    expect(appRequeueAfter(plan('converged'), { placed: 0 }, () => 0)).toBeUndefined();
  });
});
