import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { App, AppSpec } from '../../../api/types/app.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { appStatus, planApp, templateOf, type AppInstance } from '../../../reconcilers/app.js';
import { lastAvailable, planRevisions, revisionTemplateOf, rolloutFailure, sameTemplate, withTemplate, type RevisionRow } from '../../../reconcilers/app-revisions.js';

const now = new Date('2026-01-02T03:04:05Z');

function app(command: string[], rollout: AppSpec['rollout'] = { autoRollback: true, maxSurge: 1, maxUnavailable: 0 }, generation = 2): App {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: 'acme', generation, uid: 'u1' }, spec: { replicas: 2, command, resources: { memory: '64Mi' }, rollout } };
}
const good = app(['node', 'v1.mjs']);
const bad = app(['node', 'v2.mjs']);
const goodRev = templateOf(good).revision;
const badRev = templateOf(bad).revision;

function row(of: App, number: number, extra: Partial<RevisionRow> = {}): RevisionRow {
  return { revision: templateOf(of).revision, number, template: revisionTemplateOf(of), startedAt: now, availableAt: null, failedGeneration: null, failure: null, rolledBackTo: null, ...extra };
}
const history = [row(bad, 2), row(good, 1, { availableAt: now })];

let seq = 0;
function instance(revision: string, extra: Partial<AppInstance> = {}): AppInstance {
  seq++;
  return { id: `i${seq}`, revision, node: 'n1', desired: 'running', phase: 'running', ready: true, createdAt: new Date(now.getTime() - 5_000), ...extra };
}
const serving = () => [instance(goodRev), instance(goodRev)];
const looping = (restarts: number) => instance(badRev, { ready: false, phase: 'backoff', restarts, lastExit: { reason: 'Error', code: 3, at: '2026-01-02T03:04:00Z', restartAt: '2026-01-02T03:04:10Z' } });

describe('planRevisions', () => {
  it('records the spec\'s revision when it is not the newest of the history, and only then', () => {
    expect(planRevisions(good, goodRev, [], [], now).record).toBe(true);
    expect(planRevisions(bad, badRev, history, [], now).record).toBe(false);
    // Back to an older revision (tend rollout undo): it becomes the newest again.
    expect(planRevisions(good, goodRev, history, [], now).record).toBe(true);
  });

  it('rolls back to the last available revision once a new instance is restarted 3 times unready', () => {
    expect(planRevisions(bad, badRev, history, [...serving(), looping(1)], now).rollback).toBeUndefined();
    const plan = planRevisions(bad, badRev, history, [...serving(), looping(2)], now);
    expect(plan.rollback).toMatchObject({ failed: badRev, to: { revision: goodRev }, now: true });
    expect(plan.rollback?.why).toMatch(/^1 instance in CrashLoopBackOff: i\d+ on n1: 3 restarts, last exit Error \(code 3\)/);
  });

  it('rolls back at the progress deadline, and for an instance its node refuses', () => {
    const stuck = instance(badRev, { ready: false, phase: 'running', createdAt: new Date(now.getTime() - 601_000) });
    expect(planRevisions(bad, badRev, history, [...serving(), stuck], now).rollback?.why).toMatch(/^1 instance not ready after 600 s: i\d+ on n1: running$/);
    const refused = instance(badRev, { ready: false, phase: 'failed', reason: 'InvalidCommand', message: 'command is empty: nothing to start' });
    expect(planRevisions(bad, badRev, history, [...serving(), refused], now).rollback?.why).toMatch(/refused by its node: .*InvalidCommand: command is empty/);
  });

  it('does not roll back without autoRollback, without an available revision to return to, or a revision that was available', () => {
    const failing = [...serving(), looping(5)];
    expect(planRevisions(app(['node', 'v2.mjs'], {}), badRev, history, failing, now).rollback).toBeUndefined();
    expect(planRevisions(bad, badRev, [row(bad, 2), row(good, 1)], failing, now).rollback).toBeUndefined();
    expect(planRevisions(bad, badRev, [row(bad, 2, { availableAt: now }), row(good, 1, { availableAt: now })], failing, now).rollback).toBeUndefined();
  });

  it('keeps a rollback while the generation is the one it failed at, and drops it when the spec changes', () => {
    const marked = [row(bad, 2, { failedGeneration: 2, failure: 'it crashed', rolledBackTo: goodRev }), row(good, 1, { availableAt: now })];
    expect(planRevisions(bad, badRev, marked, [], now)).toEqual({ record: false, rollback: { failed: badRev, why: 'it crashed', to: marked[1], now: false } });
    // The same spec applied again is a new generation: a new attempt.
    expect(planRevisions(app(['node', 'v2.mjs'], undefined, 3), badRev, marked, [], now).rollback).toBeUndefined();
  });

  it('returns to the newest available revision, never the failed one', () => {
    const older = app(['node', 'v0.mjs']);
    const rows = [row(bad, 3), row(good, 2, { availableAt: now }), row(older, 1, { availableAt: now })];
    expect(lastAvailable(rows, badRev)?.revision).toBe(goodRev);
    expect(lastAvailable(rows, goodRev)?.revision).toBe(templateOf(older).revision);
  });
});

describe('a rolled-back App', () => {
  it('plans the old revision: the looping instance stops, the old ones keep serving', () => {
    const instances = [...serving(), looping(3)];
    const running = withTemplate(bad, revisionTemplateOf(good));
    const plan = planApp(running, instances, { now });
    expect(plan.revision).toBe(goodRev);
    expect(plan.steps).toEqual([{ op: 'stop', id: instances[2]!.id, why: `replaced by revision ${goodRev}` }]);
    const status = appStatus(running, instances, plan, { placed: 0 }, { now, rolledBack: { failed: badRev, why: 'it crashed' } });
    expect(findCondition(status.conditions, 'Progressing')).toMatchObject({ status: 'False', reason: 'RolledBack', message: `revision ${badRev} failed (it crashed); running ${goodRev}` });
    expect(findCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(findCondition(status.conditions, 'Available')?.status).toBe('True');
    expect(status.revision).toBe(goodRev);
  });

  it('asks for nothing of a failed revision that never ran: rolloutFailure is quiet while it may still succeed', () => {
    expect(rolloutFailure(bad, badRev, [...serving(), instance(badRev, { ready: false, phase: 'starting' })], now)).toBeUndefined();
  });
});

describe('revision templates', () => {
  const spec = fc.record({
    command: fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 }),
    args: fc.option(fc.array(fc.string({ maxLength: 8 }), { maxLength: 2 }), { nil: undefined }),
    env: fc.option(fc.uniqueArray(fc.record({ name: fc.constantFrom('A', 'B', 'C'), value: fc.string({ maxLength: 4 }) }), { selector: (e) => e.name, maxLength: 3 }), { nil: undefined }),
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    resources: fc.record({ memory: fc.constantFrom('64Mi', '128Mi'), cpu: fc.option(fc.constantFrom('100m', '1'), { nil: undefined }) }),
    healthCheck: fc.option(fc.record({ httpGet: fc.record({ path: fc.constantFrom('/', '/healthz') }) }), { nil: undefined }),
  });
  const clean = <T extends object>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

  it('written back over any other spec, give that revision again and keep replicas, rollout and placement (what tend rollout undo relies on)', () => {
    fc.assert(
      fc.property(spec, spec, fc.integer({ min: 0, max: 5 }), (then, nowSpec, replicas) => {
        const before: App = { ...good, spec: clean({ ...then, replicas: 1 }) as AppSpec };
        const current: App = { ...good, spec: clean({ ...nowSpec, replicas, rollout: { autoRollback: true }, placement: { strategy: 'spread' as const } }) as AppSpec };
        // Through jsonb and back, as the history stores it.
        const stored = clean(revisionTemplateOf(before));
        const undone = withTemplate(current, stored);
        expect(templateOf(undone).revision).toBe(templateOf(before).revision);
        expect(sameTemplate(revisionTemplateOf(undone), revisionTemplateOf(before))).toBe(true);
        expect(undone.spec).toMatchObject({ replicas, rollout: { autoRollback: true }, placement: { strategy: 'spread' } });
      }),
    );
  });

  it('compare by value, whatever the key order', () => {
    expect(sameTemplate({ command: ['a'], resources: { memory: '1Mi', cpu: '1' } }, { resources: { cpu: '1', memory: '1Mi' }, command: ['a'] })).toBe(true);
    expect(sameTemplate({ command: ['a'] }, { command: ['b'] })).toBe(false);
  });
});
