/**
 * How a person reads an object's status: is it Ready, and if not, what one sentence says why.
 * Shared by `tend apply --wait`, `tend get` and `tend why`.
 */
import type { Condition, Resource } from '../framework/index.js';

/** Where an object stands, from its status. */
export interface Readiness {
  readonly ready: boolean;
  /** The Ready condition's reason, or why there is none yet. */
  readonly reason: string;
  readonly message: string;
}

interface StatusShape {
  readonly observedGeneration?: number;
  readonly conditions?: readonly Condition[];
}

/** Ready means: the controller has seen this generation and says Ready=True. */
export function readinessOf(obj: Resource): Readiness {
  const status = (obj.status ?? {}) as StatusShape;
  const generation = obj.metadata.generation;
  if (obj.metadata.deletionTimestamp) {
    return { ready: false, reason: 'Deleting', message: `being deleted; waiting for ${(obj.metadata.finalizers ?? []).join(', ') || 'nothing'}` };
  }
  if (!status.conditions || status.conditions.length === 0) {
    return { ready: false, reason: 'NotObserved', message: 'no controller has reported on it yet' };
  }
  const ready = status.conditions.find((c) => c.type === 'Ready');
  if (!ready) return { ready: false, reason: 'NotObserved', message: 'no Ready condition yet' };
  const observed = ready.observedGeneration ?? status.observedGeneration;
  if (generation !== undefined && observed !== undefined && observed < generation) {
    return { ready: false, reason: 'NotObserved', message: `generation ${generation} not yet seen by a controller (status is for ${observed})` };
  }
  return { ready: ready.status === 'True', reason: ready.reason, message: ready.message ?? '' };
}

/**
 * The one sentence that says what blocks the object: the first False condition other than Ready
 * (it carries the specific cause), else Ready's own message; undefined when it is Ready.
 */
export function blockingReason(obj: Resource): string | undefined {
  const readiness = readinessOf(obj);
  if (readiness.ready) return undefined;
  const { conditions = [] } = (obj.status ?? {}) as StatusShape;
  if (readiness.reason === 'NotObserved' || readiness.reason === 'Deleting') return sentence(readiness.message);
  const cause = conditions.find((c) => c.type !== 'Ready' && c.status === 'False' && c.message);
  const chosen = cause ?? conditions.find((c) => c.type === 'Ready');
  return sentence(chosen?.message ? `${chosen.type}=${chosen.status} ${chosen.reason}: ${chosen.message}` : readiness.message || readiness.reason);
}

function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}
