/**
 * @module
 * Sources turn changes into keys. An `Informer` keeps one kind's cache current (list + watch);
 * `forKind` enqueues the changed object's own key, `watches` maps a related object to the keys of
 * the objects that depend on it (c-r's `Watches` + `MapFunc`).
 *
 * Sources are non-blocking starters plus a sync barrier: `start` returns at once, `synced`
 * resolves after the first full list, so a controller starts its workers only on a warm cache.
 *
 * ```ts
 * const apps = new Informer(appClient, { indexers: { namespace: byNamespace } });
 * const sources = [forKind(tenants), watches(apps, (app) => tenantKeysOf(app))];
 * ```
 */
import type { Resource } from '../client/index.js';
import { keyOfObject } from '../client/index.js';
import type { Enqueuer } from '../queue/index.js';
import type { Key } from '../reconcile/index.js';
import type { Change, Informer } from './informer.js';

export { Cache, byNamespace, byOwner, type IndexFn } from './cache.js';
export { Informer, type Change, type InformerOptions } from './informer.js';

/** Related object → keys of the objects to reconcile. */
export type MapFn<T> = (obj: T) => readonly Key[];

/** Decides whether a change is worth a reconcile. */
export type Predicate<T> = (change: Change<T>) => boolean;

export interface Source {
  readonly name: string;
  /** Begins delivering keys to `queue`; returns immediately; stops when `signal` aborts. */
  start(signal: AbortSignal, queue: Enqueuer): void;
  /** Resolves after the first complete list has been delivered. */
  synced(): Promise<void>;
}

/**
 * Default predicate for a controller's own kind: skip changes that touch only status (our own
 * status writes), so a status patch does not trigger a pointless reconcile. Generation covers
 * spec; deletion, finalizers, labels and annotations are metadata a reconciler may act on.
 */
export const specOrMetadataChanged: Predicate<Resource> = (change) => {
  if (change.type !== 'updated' || !change.old) return true;
  const [a, b] = [change.old.metadata, change.object.metadata];
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.finalizers ?? []) !== JSON.stringify(b.finalizers ?? []) ||
    JSON.stringify(a.labels ?? {}) !== JSON.stringify(b.labels ?? {}) ||
    JSON.stringify(a.annotations ?? {}) !== JSON.stringify(b.annotations ?? {})
  );
};

/** Enqueues the key of every changed object of the informer's kind that passes `predicate`. */
export function forKind<T extends Resource>(
  informer: Informer<T>,
  predicate: Predicate<T> = specOrMetadataChanged as Predicate<T>,
): Source {
  return mapped(`kind:${informer.client.type.kind}`, informer, (obj) => [keyOfObject(obj)], predicate);
}

/** Enqueues the keys `map` gives for every changed object of a related kind (old and new state). */
export function watches<T extends Resource>(informer: Informer<T>, map: MapFn<T>, predicate?: Predicate<T>): Source {
  return mapped(`watches:${informer.client.type.kind}`, informer, map, predicate);
}

function mapped<T extends Resource>(name: string, informer: Informer<T>, map: MapFn<T>, predicate?: Predicate<T>): Source {
  return {
    name,
    start(signal, queue) {
      const deliver = (change: Change<T>) => {
        if (predicate && !predicate(change)) return;
        const keys = new Set(map(change.object));
        // A change can move a related object away from its old owner: tell the old one too.
        if (change.old) for (const key of map(change.old)) keys.add(key);
        for (const key of keys) queue.add(key);
      };
      const unsubscribe = informer.onChange(deliver);
      // Objects already cached when this source starts would otherwise never be delivered.
      for (const object of informer.cache.list()) deliver({ type: 'added', object });
      signal.addEventListener('abort', unsubscribe, { once: true });
    },
    synced: () => informer.synced(),
  };
}
