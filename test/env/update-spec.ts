import { ConflictError, type Resource, type ResourceClient } from '../../framework/client/index.js';
import type { Key } from '../../framework/reconcile/index.js';

/**
 * Changes an object's spec as a user would: read, change, write, and read again when a controller
 * wrote in between (a 409 from the resourceVersion the write carries), up to 5 times.
 */
export async function updateSpec<T extends Resource>(client: ResourceClient<T>, key: string, change: (spec: NonNullable<T['spec']>) => NonNullable<T['spec']>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const current = await client.get(key as Key);
    if (!current) throw new Error(`updateSpec: ${key} not found`);
    try {
      return await client.update({ ...current, spec: change(current.spec as NonNullable<T['spec']>) });
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 5) throw err;
    }
  }
}
