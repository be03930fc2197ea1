/**
 * Draining an App that is going (its finalizer, or the orphan sweep after it is gone): the choice
 * between stopping an instance and forgetting it. Pure; the controller executes the steps, fenced,
 * and lets the App go once nothing is left.
 */
import type { AppStep } from './app.js';

/** What the choice reads of an instance row. */
export interface DrainableInstance {
  readonly id: string;
  readonly desired: string;
  readonly phase: string | null;
  readonly nodeLostSince?: Date | null;
}

export interface DrainPlan {
  /** Stop what still runs; forget what its agent reported stopped, or what sits on a lost node. */
  readonly steps: readonly Extract<AppStep, { op: 'stop' | 'forget' }>[];
  /** No instance row is left: the App (and its claims) may go. */
  readonly drained: boolean;
}

/** Steps that empty the App of `instances`; `why` is logged with each stop. */
export function planDrain(instances: readonly DrainableInstance[], why: string): DrainPlan {
  const steps: Extract<AppStep, { op: 'stop' | 'forget' }>[] = [];
  for (const i of instances) {
    if (i.desired === 'running') steps.push({ op: 'stop', id: i.id, why });
    else if (i.phase === 'stopped' || i.nodeLostSince) steps.push({ op: 'forget', id: i.id });
  }
  return { steps, drained: instances.length === 0 };
}
