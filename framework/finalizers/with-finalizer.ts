/**
 * @module
 * Finalizers: an object whose deletion must wait for cleanup (stop its instances, release its
 * claims) carries a finalizer of its controller until that cleanup is done, as kube-rs'
 * `finalizer()` and controller-runtime's finalizer helpers do.
 *
 * ```ts
 * const reconcile: Reconciler<App> = (ctx, app) =>
 *   withFinalizer(clients.app, app, 'tend.dev/app', {
 *     apply: (a) => reconcileLive(ctx, a),
 *     cleanup: async (a) => ((await drained(a)) ? 'removed' : requeueAfter(1_000)),
 *   });
 * ```
 */
import type { Resource, ResourceClient } from '../client/index.js';
import { done, type Result } from '../reconcile/index.js';

/** What a finalizer guards: the normal reconcile, and the cleanup that must finish before deletion. */
export interface FinalizerSteps<T> {
  /** The object is live (the finalizer is in place): reconcile it. */
  apply(obj: T): Promise<Result>;
  /**
   * The object is being deleted: clean up, idempotently. Return `'removed'` when cleanup is
   * complete (the finalizer is then removed), or a Result to look again later (still blocked).
   */
  cleanup(obj: T): Promise<'removed' | Result>;
}

/**
 * Runs `apply` or `cleanup` depending on the object's deletion state, adding `name` to its
 * finalizers first and removing it only after cleanup completes (kube-rs `finalizer()`).
 * Both metadata writes carry the resourceVersion, so a concurrent writer makes them conflict
 * rather than clobber.
 */
export async function withFinalizer<T extends Resource>(
  client: ResourceClient<T>,
  obj: T,
  name: string,
  steps: FinalizerSteps<T>,
): Promise<Result> {
  const finalizers = obj.metadata.finalizers ?? [];
  if (obj.metadata.deletionTimestamp) {
    if (!finalizers.includes(name)) return done();
    const outcome = await steps.cleanup(obj);
    if (outcome !== 'removed') return outcome;
    await client.update({ ...obj, metadata: { ...obj.metadata, finalizers: finalizers.filter((f) => f !== name) } });
    return done();
  }
  const current = finalizers.includes(name)
    ? obj
    : await client.update({ ...obj, metadata: { ...obj.metadata, finalizers: [...finalizers, name] } });
  return steps.apply(current);
}
