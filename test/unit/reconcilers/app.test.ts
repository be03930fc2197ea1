import { describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { appCountVerdict, appStatus, planApp, templateOf, type AppInstance } from '../../../reconcilers/app.js';

const now = new Date('2026-01-02T03:04:05Z');

function app(replicas: number, rollout: NonNullable<App['spec']>['rollout'] = {}, command = ['node', 'server.mjs']): App {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: 'acme', generation: 1 }, spec: { replicas, command, resources: { memory: '64Mi' }, rollout } };
}

let seq = 0;
function instance(revision: string, ready: boolean, extra: Partial<AppInstance> = {}): AppInstance {
  seq++;
  return { id: `i${seq}`, revision, node: 'n1', desired: 'running', phase: ready ? 'running' : 'starting', ready, createdAt: new Date(now.getTime() - 60_000 + seq), ...extra };
}

const ops = (plan: ReturnType<typeof planApp>) => plan.steps.map((s) => (s.op === 'place' ? `place ${s.count}` : `${s.op} ${s.id}`));

describe('planApp', () => {
  it('places every replica of a new app', () => {
    expect(ops(planApp(app(3), [], { now }))).toEqual(['place 3']);
  });

  it('does nothing for a converged app and does not ask to look again', () => {
    const rev = templateOf(app(2)).revision;
    const plan = planApp(app(2), [instance(rev, true), instance(rev, true)], { now });
    expect(plan.steps).toEqual([]);
    expect(plan.requeueAfterMs).toBeUndefined();
  });

  it('changes revision when what an instance runs changes, not otherwise', () => {
    expect(templateOf(app(1)).revision).toBe(templateOf(app(5)).revision);
    expect(templateOf(app(1, {}, ['node', 'v2.mjs'])).revision).not.toBe(templateOf(app(1)).revision);
  });

  it('surges first when maxUnavailable is 0, stopping an old instance only once a new one is ready', () => {
    const a = app(3, { maxSurge: 1, maxUnavailable: 0 });
    const old = [instance('old', true), instance('old', true), instance('old', true)];
    expect(ops(planApp(a, old, { now }))).toEqual(['place 1']);
    const rev = templateOf(a).revision;
    const starting = instance(rev, false);
    expect(ops(planApp(a, [...old, starting], { now }))).toEqual([]);
    const readyNew = { ...starting, ready: true };
    expect(ops(planApp(a, [...old, readyNew], { now }))).toEqual([`stop ${old[2]!.id}`]);
  });

  it('stops an instance that mounts a volume another App holds, and places none there', () => {
    const a: App = { ...app(1), spec: { ...app(1).spec!, volumes: [{ volume: 'data', mountPath: '/data' }] } };
    const rev = templateOf(a).revision;
    const writer = instance(rev, true, { volumes: ['acme/data'] });
    const elsewhere = instance('other', true, { volumes: ['acme/logs'] });
    const plan = planApp(a, [writer, elsewhere], { now, volumeHeldElsewhere: ['acme/data'] });
    expect(plan.steps).toContainEqual({ op: 'stop', id: writer.id, why: 'volume acme/data is held by another App' });
    expect(plan.steps.some((s) => s.op === 'stop' && s.id === elsewhere.id && s.why.includes('held'))).toBe(false);
  });

  it('stops first when maxSurge is 0', () => {
    const old = [instance('old', true), instance('old', true), instance('old', true), instance('old', true)];
    expect(ops(planApp(app(4, { maxSurge: 0, maxUnavailable: 1 }), old, { now }))).toEqual([`stop ${old[3]!.id}`]);
  });

  it('never drops below replicas − maxUnavailable ready during a whole rollout', () => {
    for (const rollout of [{ maxSurge: 1, maxUnavailable: 0 }, { maxSurge: 0, maxUnavailable: 1 }, { maxSurge: '25%', maxUnavailable: '25%' }, { maxSurge: 2, maxUnavailable: 2 }]) {
      const a = app(5, rollout);
      const rev = templateOf(a).revision;
      let instances: AppInstance[] = Array.from({ length: 5 }, () => instance('old', true));
      const floor = 5 - Number(typeof rollout.maxUnavailable === 'number' ? rollout.maxUnavailable : 1);
      for (let round = 0; round < 50; round++) {
        // Instances started last round are ready now, as if their health checks passed.
        instances = instances.map((i) => ({ ...i, ready: true }));
        const plan = planApp(a, instances, { now });
        const stopping = new Set(plan.steps.flatMap((s) => (s.op === 'stop' ? [s.id] : [])));
        instances = instances.filter((i) => !stopping.has(i.id));
        expect(instances.filter((i) => i.ready).length, JSON.stringify(rollout)).toBeGreaterThanOrEqual(floor);
        for (const s of plan.steps) if (s.op === 'place') for (let k = 0; k < s.count; k++) instances.push(instance(rev, false));
        if (plan.steps.length === 0) break;
      }
      expect(instances.map((i) => i.revision)).toEqual(Array(5).fill(rev));
    }
  });

  it('scales to zero by stopping every instance', () => {
    const rev = templateOf(app(0)).revision;
    const [a, b] = [instance(rev, true), instance(rev, true)];
    expect(ops(planApp(app(0), [a!, b!], { now })).sort()).toEqual([`stop ${a!.id}`, `stop ${b!.id}`].sort());
  });

  it('scales down unready instances first', () => {
    const rev = templateOf(app(1)).revision;
    const [a, b, c] = [instance(rev, true), instance(rev, false), instance(rev, true)];
    expect(ops(planApp(app(1), [a!, b!, c!], { now }))).toEqual([`stop ${b!.id}`, `stop ${c!.id}`]);
  });

  it('forgets instances that stopped, and replaces those on a node lost past the grace period', () => {
    const rev = templateOf(app(2)).revision;
    const gone = instance(rev, false, { desired: 'stopped', phase: 'stopped' });
    const stranded = instance(rev, true, { node: 'n2', nodeLostSince: new Date(now.getTime() - 31_000) });
    const fine = instance(rev, true);
    expect(ops(planApp(app(2), [gone, stranded, fine], { now }))).toEqual([`forget ${gone.id}`, `stop ${stranded.id}`, 'place 1']);
  });

  it('stops what is left on a draining node once its drain deadline has passed, replaced or not', () => {
    const a = app(1, { maxSurge: 1, maxUnavailable: 0 });
    const rev = templateOf(a).revision;
    const left = instance(rev, true, { nodeDraining: true, nodeDrainExpired: true });
    expect(ops(planApp(a, [left], { now }))).toEqual([`stop ${left.id}`, 'place 1']);
  });

  it('replaces the instances of a draining node before stopping them', () => {
    const a = app(2, { maxSurge: 1, maxUnavailable: 0 });
    const rev = templateOf(a).revision;
    const draining = instance(rev, true, { nodeDraining: true });
    expect(ops(planApp(a, [draining, instance(rev, true)], { now }))).toEqual(['place 1']);
  });
});

describe('an App its tenant holds', () => {
  const suspended = { reason: 'TenantSuspended', message: 'tenant acme is suspended', stop: true } as const;

  it('stops every instance, places none, and says TenantSuspended on Scheduled, Available and Ready', () => {
    const rev = templateOf(app(2)).revision;
    const instances = [instance(rev, true), instance(rev, true), instance(rev, false, { desired: 'stopped', phase: 'stopped' })];
    const plan = planApp(app(2), instances, { now, tenantBlocked: suspended });
    expect(ops(plan)).toEqual([`forget ${instances[2]!.id}`, `stop ${instances[0]!.id}`, `stop ${instances[1]!.id}`]);
    const status = appStatus(app(2), instances, plan, { placed: 0 }, { now, tenantBlocked: suspended });
    for (const type of ['Scheduled', 'Available', 'Ready']) {
      expect(findCondition(status.conditions, type)).toMatchObject({ status: 'False', reason: 'TenantSuspended', message: 'tenant acme is suspended' });
    }
    expect(status.replicas).toBe(0);
  });

  it('is settled once nothing is left, and looks again while instances are still stopping', () => {
    expect(planApp(app(2), [], { now, tenantBlocked: suspended })).toMatchObject({ steps: [], requeueAfterMs: undefined });
    const stopping = instance('old', false, { desired: 'stopped', phase: 'stopping' });
    expect(planApp(app(2), [stopping], { now, tenantBlocked: suspended })).toMatchObject({ steps: [], requeueAfterMs: 2_000 });
  });

  it('keeps what runs but places nothing while the instances are not yet to stop', () => {
    const held = { reason: 'NoTenant', message: 'namespace acme belongs to no Tenant', stop: false } as const;
    const rev = templateOf(app(3)).revision;
    const instances = [instance(rev, true)];
    const plan = planApp(app(3), instances, { now, tenantBlocked: held });
    expect(plan.steps).toEqual([]);
    const status = appStatus(app(3), instances, plan, { placed: 0 }, { now, tenantBlocked: held });
    expect(findCondition(status.conditions, 'Scheduled')).toMatchObject({ status: 'False', reason: 'NoTenant' });
    expect(findCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'NoTenant' });
    expect(status.replicas).toBe(1);
  });
});

describe('appCountVerdict', () => {
  it('lets the oldest apps of a tenant run and holds back the newest beyond its app quota', () => {
    const at = (name: string, t: string): App => ({ ...app(1), metadata: { name, namespace: 'acme', creationTimestamp: t } });
    const apps = [at('b', '2026-01-01T00:00:02Z'), at('a', '2026-01-01T00:00:01Z'), at('c', '2026-01-01T00:00:03Z')];
    expect(appCountVerdict(apps[1]!, apps, 'acme', 2)).toBeUndefined();
    expect(appCountVerdict(apps[0]!, apps, 'acme', 2)).toBeUndefined();
    expect(appCountVerdict(apps[2]!, apps, 'acme', 2)).toEqual({ reason: 'QuotaExceeded', message: "tenant acme's app quota: 2 apps allowed, this is app 3 of 3" });
    expect(appCountVerdict(apps[2]!, apps, 'acme', undefined)).toBeUndefined();
  });
});

describe('appStatus', () => {
  it('reports ProgressDeadlineExceeded naming the stuck instances, with the old revision still serving', () => {
    const a = app(2, { maxSurge: 1, maxUnavailable: 0, progressDeadlineSeconds: 30 });
    const rev = templateOf(a).revision;
    const instances = [instance('old', true), instance('old', true), { ...instance(rev, false), id: 'stuck', phase: 'backoff', createdAt: new Date(now.getTime() - 31_000) }];
    const plan = planApp(a, instances, { now });
    const status = appStatus(a, instances, plan, { placed: 0 }, { now });
    expect(findCondition(status.conditions, 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect(findCondition(status.conditions, 'Progressing')?.message).toContain('stuck on n1: backoff');
    expect(findCondition(status.conditions, 'Available')?.status).toBe('True');
    expect(findCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
  });

  it('keeps Available and Ready True, and their lastTransitionTime, while a healthy App scales up', () => {
    const two = app(2);
    const rev = templateOf(two).revision;
    const serving = [instance(rev, true), instance(rev, true)];
    const earlier = new Date(now.getTime() - 3_600_000);
    const settled = appStatus(two, serving, planApp(two, serving, { now: earlier }), { placed: 0 }, { now: earlier });
    expect(findCondition(settled.conditions, 'Ready')?.status).toBe('True');
    // Scaled to 3 (default rollout: maxUnavailable 25% of 3 = 0): the new instance is placed, then starts.
    const three = { ...app(3), status: settled };
    const placing = appStatus(three, serving, planApp(three, serving, { now }), { placed: 1 }, { now });
    const starting = [...serving, instance(rev, false)];
    const started = appStatus({ ...three, status: placing }, starting, planApp(three, starting, { now }), { placed: 0 }, { now });
    for (const status of [placing, started]) {
      for (const type of ['Available', 'Ready']) {
        expect(findCondition(status.conditions, type)).toMatchObject({ status: 'True', lastTransitionTime: findCondition(settled.conditions, type)!.lastTransitionTime });
      }
      expect(findCondition(status.conditions, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });
    }
    expect(findCondition(started.conditions, 'Available')?.message).toBe('2 of 3 ready');
  });

  it('turns Available False when an instance it counted is lost during a scale-up', () => {
    const three = app(3);
    const rev = templateOf(three).revision;
    const before = { ...three, status: { readyReplicas: 2, conditions: [{ type: 'Available', status: 'True' as const, reason: 'MinimumReplicasReady', message: '2 of 2 ready', lastTransitionTime: '2026-01-01T00:00:00Z' }] } };
    const instances = [instance(rev, true), instance(rev, false), instance(rev, false)];
    const status = appStatus(before, instances, planApp(before, instances, { now }), { placed: 0 }, { now });
    expect(findCondition(status.conditions, 'Available')).toMatchObject({ status: 'False', reason: 'NotEnoughReady' });
  });

  it('holds Available to replicas − maxUnavailable, and to at least one ready instance', () => {
    const four = app(4, { maxSurge: 0, maxUnavailable: 1 });
    const rev = templateOf(four).revision;
    const availableWith = (a: App, ready: number, total: number) => {
      const instances = Array.from({ length: total }, (_, i) => instance(rev, i < ready));
      return findCondition(appStatus(a, instances, planApp(a, instances, { now }), { placed: 0 }, { now }).conditions, 'Available')?.status;
    };
    expect(availableWith(four, 3, 4)).toBe('True');
    expect(availableWith(four, 2, 4)).toBe('False');
    // One replica that stops before its replacement starts: nothing serves meanwhile.
    const one = app(1, { maxSurge: 0, maxUnavailable: 1 });
    expect(availableWith(one, 0, 1)).toBe('False');
    // Scaling up from zero: the instances it had were none, so the first one must be ready.
    const fromZero = { ...app(3), status: { readyReplicas: 0, conditions: [{ type: 'Available', status: 'True' as const, reason: 'MinimumReplicasReady', message: 'scaled to zero', lastTransitionTime: '2026-01-01T00:00:00Z' }] } };
    expect(availableWith(fromZero, 0, 3)).toBe('False');
    expect(availableWith(fromZero, 1, 3)).toBe('True');
  });

  it('carries the scheduler\'s message when instances cannot be placed', () => {
    const a = app(1);
    const plan = planApp(a, [], { now });
    const message = '0/1 nodes can run 1 instance of 64Mi/100m: 1 insufficient memory (largest free 32Mi)';
    const status = appStatus(a, [], plan, { placed: 0, unplaced: { reason: 'Unschedulable', message } }, { now });
    expect(findCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'Unschedulable', message });
  });

  it('is Ready when every replica of the current revision is ready', () => {
    const a = app(2);
    const rev = templateOf(a).revision;
    const instances = [instance(rev, true), instance(rev, true)];
    const status = appStatus(a, instances, planApp(a, instances, { now }), { placed: 0 }, { now });
    expect(status).toMatchObject({ replicas: 2, readyReplicas: 2, updatedReplicas: 2, revision: rev });
    expect(findCondition(status.conditions, 'Ready')?.status).toBe('True');
  });

  it('carries the reason an instance was refused by its node into Available and Ready', () => {
    const a = app(2);
    const rev = templateOf(a).revision;
    const message = 'image "ghcr.io/acme/web:1": this node runs processes only; no runtime here runs images yet (set command instead)';
    const instances = [instance(rev, true), { ...instance(rev, false), id: 'refused', phase: 'failed', reason: 'RuntimeUnavailable', message }];
    const status = appStatus(a, instances, planApp(a, instances, { now }), { placed: 0 }, { now });
    const available = findCondition(status.conditions, 'Available');
    expect(available).toMatchObject({ status: 'False', reason: 'RuntimeUnavailable' });
    expect(available?.message).toBe(`1 of 2 ready; 1 instance refused by its node; refused on n1: failed (RuntimeUnavailable: ${message})`);
    expect(findCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'RuntimeUnavailable', message: available?.message });
  });

  it('does not replace a refused instance: the same spec would be refused again', () => {
    const a = app(1);
    const rev = templateOf(a).revision;
    const refused = { ...instance(rev, false), phase: 'failed', reason: 'InvalidCommand', message: 'command[0] is empty: it must name a program' };
    expect(ops(planApp(a, [refused], { now }))).toEqual([]);
  });
});

describe('templateOf', () => {
  it('carries an image App\'s image to the agent, and leaves a command App\'s template (and revision) as it was', () => {
    const image: App = { ...app(1), spec: { replicas: 1, image: 'ghcr.io/acme/web:1', args: ['serve'], resources: { memory: '64Mi' } } };
    expect(templateOf(image).template).toMatchObject({ image: 'ghcr.io/acme/web:1', command: ['serve'] });
    expect(templateOf(app(1)).template).not.toHaveProperty('image');
    expect(templateOf(app(1)).revision).toBe('7a0216be87'); // as before image joined the template: no rollout on upgrade
  });
});
