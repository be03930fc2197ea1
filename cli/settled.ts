/**
 * When `tend apply --wait` is done with an object, as `kubectl rollout status` is with a
 * Deployment: its controller has observed the generation just applied and says Ready=True, and an
 * App's rollout is complete (Progressing=True RolloutComplete: every replica of the new revision
 * ready, nothing else running). An App keeps Ready=True through a healthy scale-up or rollout, so
 * Ready alone would return while the new instances are still starting. A rollout that gave up
 * (ProgressDeadlineExceeded, RolledBack) ends the wait as a failure, as kubectl's does.
 */
import type { Condition, Resource } from '../framework/index.js';
import { readinessOf, type Readiness } from './readiness.js';

/** Where the wait stands on one object. */
export interface Settled extends Readiness {
  /** Nothing more to wait for. */
  readonly settled: boolean;
  /** The rollout gave up: waiting longer will not help. */
  readonly failed: boolean;
}

/** Progressing reasons of a rollout that gave up. */
const FAILED_ROLLOUT = new Set(['ProgressDeadlineExceeded', 'RolledBack']);

interface StatusShape {
  readonly observedGeneration?: number;
  readonly conditions?: readonly Condition[];
}

/** Whether `obj` is settled, and if not, the reason and sentence to show while waiting. */
export function settledOf(obj: Resource): Settled {
  const generation = obj.metadata.generation;
  const status = (obj.status ?? {}) as StatusShape;
  const observed = status.observedGeneration;
  const readiness = readinessOf(obj);
  if (readiness.reason === 'Deleting' || readiness.reason === 'NotObserved') return { ...readiness, settled: false, failed: false };
  // The status as a whole, not only its Ready condition, must be of the generation just applied.
  if (generation !== undefined && (observed === undefined || observed < generation)) {
    return { ready: false, reason: 'NotObserved', message: `generation ${generation} not yet seen by a controller (status is for ${observed ?? 'none'})`, settled: false, failed: false };
  }
  if (obj.kind === 'App') {
    const progressing = status.conditions?.find((c) => c.type === 'Progressing');
    if (!progressing || (generation !== undefined && progressing.observedGeneration !== undefined && progressing.observedGeneration < generation)) {
      return { ready: false, reason: 'NotObserved', message: 'no rollout status for this generation yet', settled: false, failed: false };
    }
    const line = { reason: progressing.reason, message: progressing.message ?? '' };
    if (progressing.status === 'False' && FAILED_ROLLOUT.has(progressing.reason)) return { ready: false, ...line, settled: true, failed: true };
    if (progressing.status !== 'True' || progressing.reason !== 'RolloutComplete') return { ready: false, ...(readiness.ready ? line : readiness), settled: false, failed: false };
  }
  return { ...readiness, settled: readiness.ready, failed: false };
}
