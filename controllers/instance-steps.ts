/** Executes the instance steps of an App plan that need no scheduler: stop and forget, each fenced. */
import type { Logger } from 'pino';
import type { Store } from '../framework/index.js';
import type { AppStep } from '../reconcilers/app.js';
import { planDrain, type DrainableInstance } from '../reconcilers/app-cleanup.js';
import { forgetInstance, stopInstance } from './app-queries.js';

/** Runs the stop and forget steps of `steps` in order (others are the caller's); logs each stop on `log`. */
export async function stopAndForget(store: Store, fence: bigint, steps: readonly AppStep[], log?: Logger): Promise<void> {
  for (const step of steps) {
    if (step.op === 'forget') await store.query(forgetInstance, [step.id, String(fence)]);
    else if (step.op === 'stop') {
      await store.query(stopInstance, [step.id, String(fence)]);
      log?.info({ instance: step.id, why: step.why }, 'stopping instance');
    }
  }
}

/** Stops what still runs of an App that is going and forgets what has stopped (reconcilers/app-cleanup.ts); true when none is left. */
export async function drainInstances(store: Store, fence: bigint, instances: readonly DrainableInstance[], why: string): Promise<boolean> {
  const drain = planDrain(instances, why);
  await stopAndForget(store, fence, drain.steps);
  return drain.drained;
}
