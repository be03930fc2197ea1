/**
 * Admission for the PostgreSQL backend: the same schema checks, defaults and CEL rules the CRDs
 * enforce on a Kubernetes API server, answered the way the API server answers (422 Invalid, with
 * one cause per field), so `tend apply` reads the same on either backend.
 */
import { ApiError, type Resource } from '../framework/index.js';
import { GROUP } from './kinds.js';
import { admitObject } from './validate.js';

/** Admits `obj` (create when `old` is absent, else update): the defaulted object, or throws ApiError 422. */
export function admit<T extends Resource>(obj: T, old: T | undefined): T {
  const { errors, admitted } = admitObject(obj, old);
  if (errors.length === 0) {
    // Defaulting covers metadata and spec; status is not the caller's to set here.
    const result = admitted as T;
    return obj.status === undefined ? result : { ...result, status: obj.status };
  }
  const list = errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message));
  const message = `${obj.kind}.${GROUP} "${obj.metadata?.name ?? ''}" is invalid: ${list.length === 1 ? list[0] : `[${list.join(', ')}]`}`;
  throw new ApiError(message, 422, 'Invalid', errors.map((e) => ({ field: e.field, message: e.message })));
}
