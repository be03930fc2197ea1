import type { Key } from '../reconcile/index.js';

/**
 * Keys waiting for a time, earliest first. The map is the truth; the heap may hold stale entries
 * (a key moved to an earlier time), which `popDue` skips — cheaper than removing from a heap.
 */
export class DelayHeap {
  private readonly due = new Map<Key, number>();
  private heap: { key: Key; at: number }[] = [];

  /** Schedules `key` at `at` unless it is already scheduled earlier; returns whether it changed. */
  schedule(key: Key, at: number): boolean {
    const current = this.due.get(key);
    if (current !== undefined && current <= at) return false;
    this.due.set(key, at);
    this.push({ key, at });
    return true;
  }

  /** The earliest pending time, if any. */
  next(): number | undefined {
    this.dropStale();
    return this.heap[0]?.at;
  }

  /** Removes and returns every key due at or before `now`, earliest first. */
  popDue(now: number): Key[] {
    const keys: Key[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.at > now) return keys;
      this.pop();
      this.due.delete(top.key);
      keys.push(top.key);
    }
  }

  get size(): number {
    return this.due.size;
  }

  clear(): void {
    this.due.clear();
    this.heap = [];
  }

  private dropStale(): void {
    while (this.heap[0] && this.due.get(this.heap[0].key) !== this.heap[0].at) this.pop();
  }

  private push(entry: { key: Key; at: number }): void {
    const heap = this.heap;
    heap.push(entry);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    for (let i = 0; ; ) {
      const [l, r] = [2 * i + 1, 2 * i + 2];
      let min = i;
      if (l < heap.length && heap[l]!.at < heap[min]!.at) min = l;
      if (r < heap.length && heap[r]!.at < heap[min]!.at) min = r;
      if (min === i) return;
      [heap[min], heap[i]] = [heap[i]!, heap[min]!];
      i = min;
    }
  }
}
