import { describe, expect, it } from 'vitest';
import { settledOf } from '../../../cli/settled.js';
import type { Resource } from '../../../framework/index.js';

const at = '2026-01-02T03:04:05Z';
const cond = (type: string, status: string, reason: string, observedGeneration: number, message = '') => ({ type, status, reason, message, lastTransitionTime: at, observedGeneration });

function app(generation: number, observed: number | undefined, conditions: ReturnType<typeof cond>[]): Resource {
  return {
    apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: 'default', generation },
    status: { ...(observed !== undefined ? { observedGeneration: observed } : {}), conditions },
  } as Resource;
}

describe('settledOf', () => {
  it('waits for an App that stays Ready through a scale-up until its rollout is complete', () => {
    const scaling = app(2, 2, [cond('Ready', 'True', 'AsExpected', 2), cond('Progressing', 'True', 'RollingOut', 2, '1 of 3 instances of revision abc ready')]);
    expect(settledOf(scaling)).toMatchObject({ settled: false, failed: false, reason: 'RollingOut', message: '1 of 3 instances of revision abc ready' });
    const done = app(2, 2, [cond('Ready', 'True', 'AsExpected', 2), cond('Progressing', 'True', 'RolloutComplete', 2)]);
    expect(settledOf(done)).toMatchObject({ settled: true, failed: false, ready: true });
  });

  it('waits while the status is of an older generation, also when Ready says True', () => {
    const stale = app(3, 2, [cond('Ready', 'True', 'AsExpected', 3), cond('Progressing', 'True', 'RolloutComplete', 2)]);
    expect(settledOf(stale)).toMatchObject({ settled: false, reason: 'NotObserved' });
    const unobserved = app(3, undefined, [cond('Ready', 'True', 'AsExpected', 3), cond('Progressing', 'True', 'RolloutComplete', 3)]);
    expect(settledOf(unobserved)).toMatchObject({ settled: false, reason: 'NotObserved' });
  });

  it('ends the wait as a failure when the rollout gave up, as kubectl rollout status does', () => {
    for (const reason of ['ProgressDeadlineExceeded', 'RolledBack']) {
      const failed = app(2, 2, [cond('Ready', 'True', 'AsExpected', 2), cond('Progressing', 'False', reason, 2, 'revision abc failed')]);
      expect(settledOf(failed)).toMatchObject({ settled: true, failed: true, reason, message: 'revision abc failed' });
    }
  });

  it('shows what keeps an App from Ready before its rollout', () => {
    const blocked = app(1, 1, [cond('Ready', 'False', 'VolumeInUse', 1, 'held'), cond('Progressing', 'True', 'RollingOut', 1)]);
    expect(settledOf(blocked)).toMatchObject({ settled: false, reason: 'VolumeInUse', message: 'held' });
  });

  it('settles any other kind on Ready=True of the generation applied', () => {
    const tenant = { apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 't', generation: 4 }, status: { observedGeneration: 4, conditions: [cond('Ready', 'True', 'AsExpected', 4)] } } as Resource;
    expect(settledOf(tenant)).toMatchObject({ settled: true, failed: false });
    expect(settledOf({ ...tenant, metadata: { ...tenant.metadata, generation: 5 } })).toMatchObject({ settled: false, reason: 'NotObserved' });
  });
});
