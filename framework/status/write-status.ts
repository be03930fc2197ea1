/**
 * @module
 * Status writes: unchanged ⇒ no write. `writeStatus` compares the status a reconcile computed
 * with the object's and patches only what differs (merge-patch.ts), guarded by the object's
 * resourceVersion; a conflict is a stale read, retried quickly by the runtime.
 *
 * ```ts
 * await writeStatus(clients.app, app, { ...app.status, conditions, observedGeneration: app.metadata.generation });
 * ```
 */
import type { Resource, ResourceClient } from '../client/index.js';
import { keyOfObject } from '../client/index.js';
import { mergePatchOf } from './merge-patch.js';

/**
 * Writes `status` to the status subresource only when it differs from `obj.status`, as a merge
 * patch guarded by `obj`'s resourceVersion (a stale one throws ConflictError, which the runtime
 * retries quickly; an object without one throws TypeError rather than write unguarded). Returns the updated object, or undefined when nothing needed writing.
 */
export async function writeStatus<T extends Resource>(
  client: ResourceClient<T>,
  obj: T,
  status: NonNullable<T['status']>,
): Promise<T | undefined> {
  const patch = mergePatchOf(obj.status ?? {}, status);
  if (patch === undefined) return undefined;
  const { resourceVersion } = obj.metadata;
  // Without the version it read, a patch would land over whatever was written since.
  if (!resourceVersion) throw new TypeError(`writeStatus: ${obj.kind} ${keyOfObject(obj)} has no metadata.resourceVersion; write status only from an object read from the server`);
  return client.patchStatus(keyOfObject(obj), patch, resourceVersion);
}
