import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { appStatus, planApp, templateOf, type AppInstance } from '../../../reconcilers/app.js';
import { crashLooping, describeCrashLoop, isCrashLooping, restartCount } from '../../../reconcilers/crash-loop.js';

const now = new Date('2026-01-02T03:04:05Z');
const app: App = { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: 'acme', generation: 1 }, spec: { replicas: 2, command: ['node', 'server.mjs'], resources: { memory: '64Mi' } } };
const rev = templateOf(app).revision;

function crashing(id: string, extra: Partial<AppInstance> = {}): AppInstance {
  return {
    id, revision: rev, node: 'n1', desired: 'running', phase: 'backoff', ready: false, createdAt: new Date(now.getTime() - 60_000), restarts: 2,
    lastExit: { reason: 'Error', code: 1, signal: null, at: '2026-01-02T03:04:01.250Z', restartAt: '2026-01-02T03:04:41.250Z' },
    ...extra,
  };
}

const status = (instances: AppInstance[]) => appStatus(app, instances, planApp(app, instances, { now }), { placed: 0 }, { now });

describe('CrashLoopBackOff', () => {
  it('is the reason of Available and Ready, with the restart count, the last exit and the next restart', () => {
    const s = status([crashing('web-a'), crashing('web-b', { phase: 'running', restarts: 5, lastExit: { reason: 'OOMKilled', code: null, signal: 'SIGKILL', at: '2026-01-02T03:03:00Z', restartAt: '2026-01-02T03:04:00Z', message: 'used 70Mi of its 64Mi memory limit' } })]);
    const available = findCondition(s.conditions, 'Available');
    expect(available).toMatchObject({ status: 'False', reason: 'CrashLoopBackOff' });
    expect(available?.message).toBe('0 of 2 ready; 2 instances in CrashLoopBackOff: web-a on n1: 3 restarts, last exit Error (code 1) at 2026-01-02T03:04:01Z, next restart at 2026-01-02T03:04:41Z; and 1 more');
    expect(describeCrashLoop([crashing('web-b', { phase: 'running', restarts: 5, lastExit: { reason: 'OOMKilled', code: null, signal: 'SIGKILL', at: '2026-01-02T03:03:00Z', restartAt: '2026-01-02T03:04:00Z', message: 'used 70Mi of its 64Mi memory limit' } })])).toBe(
      'web-b on n1: 5 restarts, last exit OOMKilled (used 70Mi of its 64Mi memory limit) at 2026-01-02T03:03:00Z, next restart at 2026-01-02T03:04:00Z',
    );
    expect(findCondition(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'CrashLoopBackOff', message: available?.message });
  });

  it('names the signal of a process killed by one', () => {
    expect(describeCrashLoop([crashing('a', { lastExit: { reason: 'Error', code: null, signal: 'SIGSEGV', at: '2026-01-02T03:04:01Z' } })])).toBe('a on n1: 3 restarts, last exit Error (signal SIGSEGV) at 2026-01-02T03:04:01Z');
  });

  it('describes the first by id and counts the rest, so the others\' crashes change nothing', () => {
    const looping = crashLooping(['e', 'b', 'd', 'a', 'c'].map((id) => crashing(id)));
    expect(looping.map((i) => i.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(describeCrashLoop(looping)).toMatch(/^a on n1: 3 restarts, .*; and 4 more$/);
    const later = looping.map((i) => (i.id === 'a' ? i : { ...i, restarts: 9, lastExit: { ...i.lastExit!, at: '2026-01-02T03:05:00Z' } }));
    expect(describeCrashLoop(crashLooping(later))).toBe(describeCrashLoop(looping));
  });

  it('does not call a refused, stopping, lost or never-exited instance crash-looping', () => {
    expect(isCrashLooping(crashing('x', { phase: 'failed', reason: 'InvalidCommand' }))).toBe(false);
    expect(isCrashLooping(crashing('x', { desired: 'stopped' }))).toBe(false);
    expect(isCrashLooping(crashing('x', { nodeLostSince: now }))).toBe(false);
    expect(isCrashLooping(crashing('x', { phase: 'starting', restarts: 0, lastExit: null }))).toBe(false);
    expect(isCrashLooping(crashing('x', { phase: 'running', ready: true }))).toBe(false);
    // The first exit already is one: kubelet says CrashLoopBackOff from the first back-off on.
    expect(isCrashLooping(crashing('x', { phase: 'backoff', restarts: 0 }))).toBe(true);
  });

  it('leaves NotEnoughReady for instances that are merely not ready yet', () => {
    const s = status([crashing('a', { phase: 'starting', restarts: 0, lastExit: null }), crashing('b', { phase: 'running', ready: true, restarts: 0, lastExit: null })]);
    expect(findCondition(s.conditions, 'Available')).toMatchObject({ status: 'False', reason: 'NotEnoughReady' });
  });

  it('keeps a refusal before a crash loop: the node will never run that instance', () => {
    const s = status([crashing('a'), crashing('b', { phase: 'failed', reason: 'InvalidCommand', message: 'command is empty: nothing to start' })]);
    expect(findCondition(s.conditions, 'Available')?.reason).toBe('InvalidCommand');
  });

  it('says so in Progressing while new instances loop and the old revision serves', () => {
    const old = { ...crashing('old-1', { revision: 'old', phase: 'running', ready: true }), lastExit: null, restarts: 0 };
    const old2 = { ...old, id: 'old-2' };
    const instances = [old, old2, crashing('new-1')];
    const s = appStatus({ ...app, spec: { ...app.spec!, rollout: { maxSurge: 1, maxUnavailable: 0 } } }, instances, planApp(app, instances, { now }), { placed: 0 }, { now });
    expect(findCondition(s.conditions, 'Available')?.status).toBe('True');
    expect(findCondition(s.conditions, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });
    expect(findCondition(s.conditions, 'Progressing')?.message).toMatch(/^0 of 2 instances of revision \w+ ready; 1 instance in CrashLoopBackOff: new-1 on n1: 3 restarts/);
  });

  it('describes one crash once: the restart that follows changes nothing in the status (no write)', () => {
    // A crash as the agent reports it: exit (backoff), restart (starting, restarts + 1), running.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), fc.constantFrom('Error', 'OOMKilled', 'Completed'), fc.boolean(), (restarts, reason, ready) => {
        const other = crashing('b', { phase: 'running', ready, restarts: 0, lastExit: null });
        const exit = { reason, code: reason === 'Error' ? 1 : null, signal: reason === 'OOMKilled' ? 'SIGKILL' : null, at: '2026-01-02T03:04:01.250Z', restartAt: '2026-01-02T03:04:11.250Z' };
        const inBackoff = crashing('a', { phase: 'backoff', restarts, lastExit: exit });
        const restarting = { ...inBackoff, phase: 'starting', restarts: restarts + 1 };
        const up = { ...restarting, phase: 'running' };
        const seen = [inBackoff, restarting, up].map((i) => JSON.stringify(status([i, other]).conditions));
        expect(new Set(seen).size).toBe(1);
        expect(restartCount(inBackoff)).toBe(restartCount(up));
      }),
    );
  });
});
