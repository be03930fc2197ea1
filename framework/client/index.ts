/**
 * @module
 * The client the framework and reconcilers use to read and write resources, behind one small
 * interface so the backend can change: `KubeClient` talks to a Kubernetes API server; a
 * PostgreSQL-backed client (standalone mode) implements the same contract, and reconcilers never
 * notice which one they run on.
 *
 * The contract follows the Kubernetes API's semantics, because that is what both backends honour:
 * every object has a `resourceVersion`; writes that carry one are preconditions (a stale one fails
 * with `ConflictError`); `list` returns a snapshot version from which `watch` continues; a version
 * too old to continue from fails the watch with `GoneError`, and the caller lists again.
 */
import type { Key } from '../reconcile/index.js';

export { ConflictError, GoneError, NotFoundError, ApiError, apiError } from './errors.js';
export { KubeClient, isAbort, toApiError } from './kube-client.js';
export { PostgresClient, pruneResourceEvents, type PostgresClientOptions } from './postgres-client.js';
export { resourceEventPruner, type ResourceEventPrunerOptions } from './resource-event-pruner.js';
export { poolConnections } from './pooled-kube-config.js';

/** The metadata the framework relies on (a subset of Kubernetes ObjectMeta). */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
}

/** Any resource: Kubernetes-shaped, spec and status opaque to the framework. */
export interface Resource<Spec = unknown, Status = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
  status?: Status;
}

/** Names a kind on the server. */
export interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

export type WatchEvent<T> =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: T }
  | { readonly type: 'BOOKMARK'; readonly resourceVersion: string };

/** Reads and writes one kind. */
export interface ResourceClient<T extends Resource = Resource> {
  readonly type: ResourceType;
  /** Every object of the kind (all namespaces) and the version the list is consistent at. */
  list(signal?: AbortSignal): Promise<{ items: T[]; resourceVersion: string }>;
  /**
   * Delivers changes after `resourceVersion` (with bookmarks) until the server ends the stream
   * (resolves) or it fails (rejects; `GoneError` when the version is too old).
   */
  watch(resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void>;
  /** The object, or undefined when it does not exist. */
  get(key: Key): Promise<T | undefined>;
  create(obj: T): Promise<T>;
  /** Replaces metadata and spec; `obj.metadata.resourceVersion` is the precondition. */
  update(obj: T): Promise<T>;
  /** Merge-patches the status subresource, only if the object is still at `resourceVersion`. */
  patchStatus(key: Key, status: unknown, resourceVersion: string): Promise<T>;
  /** Deletes the object; deleting one already gone is not an error. */
  delete(key: Key): Promise<void>;
}

/** The key of an object: `namespace/name` or `name`. */
export function keyOfObject(obj: { metadata: ObjectMeta }): Key {
  const { namespace, name } = obj.metadata;
  return (namespace ? `${namespace}/${name}` : name) as Key;
}
