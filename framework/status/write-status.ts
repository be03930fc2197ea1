import type { Resource, ResourceClient } from '../client/index.js';
import { keyOfObject } from '../client/index.js';
import { mergePatchOf } from './merge-patch.js';

/**
 * Writes `status` to the status subresource only when it differs from `obj.status`, as a merge
 * patch guarded by `obj`'s resourceVersion (a stale one throws ConflictError, which the runtime
 * retries quickly). Returns the updated object, or undefined when nothing needed writing.
 */
export async function writeStatus<T extends Resource>(
  client: ResourceClient<T>,
  obj: T,
  status: NonNullable<T['status']>,
): Promise<T | undefined> {
  const patch = mergePatchOf(obj.status ?? {}, status);
  if (patch === undefined) return undefined;
  return client.patchStatus(keyOfObject(obj), patch, obj.metadata.resourceVersion!);
}
