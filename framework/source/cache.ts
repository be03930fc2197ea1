import { keyOfObject, type Resource } from '../client/index.js';
import type { Key } from '../reconcile/index.js';

/** Computes the index values of an object (an object may have several, or none). */
export type IndexFn<T> = (obj: T) => readonly string[];

/** Built-in index: the object's namespace. */
export const byNamespace: IndexFn<Resource> = (obj) => (obj.metadata.namespace ? [obj.metadata.namespace] : []);

/** Built-in index: the uids of the object's owners. */
export const byOwner: IndexFn<Resource> = (obj) => (obj.metadata.ownerReferences ?? []).map((ref) => ref.uid);

/**
 * The in-memory copy of one kind, kept by an informer: objects by key plus named indexes
 * (`byIndex('namespace', 'acme')`). Readers must treat returned objects as read-only.
 */
export class Cache<T extends Resource> {
  private readonly objects = new Map<Key, T>();
  private readonly indexes = new Map<string, { fn: IndexFn<T>; entries: Map<string, Set<Key>> }>();

  constructor(indexers: Readonly<Record<string, IndexFn<T>>> = {}) {
    for (const [name, fn] of Object.entries(indexers)) this.indexes.set(name, { fn, entries: new Map() });
  }

  /** Adds an index (indexing what is already cached); adding one that exists keeps the first. */
  addIndexer(name: string, fn: IndexFn<T>): void {
    if (this.indexes.has(name)) return;
    const entries = new Map<string, Set<Key>>();
    this.indexes.set(name, { fn, entries });
    for (const [key, obj] of this.objects) {
      for (const value of fn(obj)) {
        let keys = entries.get(value);
        if (!keys) entries.set(value, (keys = new Set()));
        keys.add(key);
      }
    }
  }

  get(key: Key): T | undefined {
    return this.objects.get(key);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  keys(): Key[] {
    return [...this.objects.keys()];
  }

  get size(): number {
    return this.objects.size;
  }

  /** Objects whose index `name` has `value`; throws for an unknown index (a programming error). */
  byIndex(name: string, value: string): T[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`cache has no index "${name}" (known: ${[...this.indexes.keys()].join(', ') || 'none'})`);
    return [...(index.entries.get(value) ?? [])].map((key) => this.objects.get(key)!);
  }

  /** Stores `obj`, returning what it replaced. */
  set(obj: T): T | undefined {
    const key = keyOfObject(obj);
    const old = this.objects.get(key);
    if (old) this.unindex(key, old);
    this.objects.set(key, obj);
    for (const { fn, entries } of this.indexes.values()) {
      for (const value of fn(obj)) {
        let keys = entries.get(value);
        if (!keys) entries.set(value, (keys = new Set()));
        keys.add(key);
      }
    }
    return old;
  }

  /** Removes the object at `key`, returning it. */
  delete(key: Key): T | undefined {
    const old = this.objects.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.objects.delete(key);
    return old;
  }

  private unindex(key: Key, obj: T): void {
    for (const { fn, entries } of this.indexes.values()) {
      for (const value of fn(obj)) {
        const keys = entries.get(value);
        keys?.delete(key);
        if (keys?.size === 0) entries.delete(value);
      }
    }
  }
}
