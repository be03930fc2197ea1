import type { Logger } from 'pino';
import type { ReconcileRecord } from '../runtime/controller.js';
import type { Store } from '../store/index.js';
import * as q from './journal-queries.js';

export interface ReconcileJournalOptions {
  readonly store: Store;
  readonly replica: string;
  readonly logger: Logger;
  /** Entries kept per object. @default 50 */
  readonly keep?: number;
  /** Records are written in batches at most this often. @default 250 */
  readonly flushMs?: number;
  /** Entries older than this are deleted (checked every 10 min at most). @default 7 days */
  readonly retainMs?: number;
}

interface Entry {
  readonly at: Date;
  readonly record: ReconcileRecord;
  readonly message: string | null;
}

const MAX_REMEMBERED = 100_000;
const MAX_PENDING = 10_000;
const PRUNE_EVERY_MS = 600_000;

/**
 * Writes what reconciles concluded to tend.reconciles, for `tend why` and `tend logs` from any
 * replica. Steady state stays free: a reconcile with the same result and message on the same
 * resourceVersion as this replica's previous one of that object is not written. Writing is
 * batched and best effort: a failed write is logged, never fails a reconcile.
 */
export class ReconcileJournal {
  private readonly last = new Map<string, string>();
  private pending: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private lastPrune = 0;

  constructor(private readonly options: ReconcileJournalOptions) {}

  /** Takes one finished reconcile (the Controller's `onReconciled`). */
  readonly record = (record: ReconcileRecord): void => {
    // A conflict is retried within milliseconds: noise for a person, so not journaled.
    if (record.result === 'requeue') return;
    const message = messageOf(record);
    const id = `${record.controller}\u0000${record.key}`;
    // Not the message: a requeue's delay varies from run to run (a node's next heartbeat check).
    const signature = `${record.result}\u0000${record.resourceVersion ?? ''}\u0000${record.error ?? ''}`;
    if (this.last.get(id) === signature) return;
    this.last.delete(id);
    this.last.set(id, signature);
    if (this.last.size > MAX_REMEMBERED) this.last.delete(this.last.keys().next().value!);
    if (this.pending.length >= MAX_PENDING) return;
    this.pending.push({ at: new Date(), record, message });
    this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs ?? 250);
  };

  /** Writes what is pending; resolves when written (or failed and logged). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    this.writing = this.writing.then(() => (batch.length > 0 ? this.write(batch) : undefined));
    await this.writing;
  }

  private async write(batch: readonly Entry[]): Promise<void> {
    const { store, replica, logger } = this.options;
    const column = <V>(fn: (e: Entry) => V): V[] => batch.map(fn);
    try {
      await store.query(q.insertEntries, [
        replica,
        column((e) => e.at),
        column((e) => e.record.controller),
        column((e) => e.record.kind),
        column((e) => e.record.key),
        column((e) => (e.record.generation === undefined ? null : String(e.record.generation))),
        column((e) => e.record.resourceVersion ?? null),
        column((e) => e.record.result),
        column((e) => e.record.durationMs),
        column((e) => e.message),
      ]);
      const objects = [...new Map(batch.map((e) => [`${e.record.kind}\u0000${e.record.key}`, e.record])).values()];
      await store.query(q.trimEntries, [objects.map((r) => r.kind), objects.map((r) => r.key), this.options.keep ?? 50]);
      // Deleted objects are never trimmed by key: age takes them out. Only while writing anyway.
      if (Date.now() - this.lastPrune > PRUNE_EVERY_MS) {
        this.lastPrune = Date.now();
        await store.query(q.pruneOldEntries, [this.options.retainMs ?? 7 * 86_400_000]);
      }
    } catch (err) {
      // Forget what was not written, so the next reconcile of those objects tries again.
      for (const e of batch) this.last.delete(`${e.record.controller}\u0000${e.record.key}`);
      logger.warn({ err: (err as Error).message, entries: batch.length }, 'could not write the reconcile journal');
    }
  }
}

/** The entry's one-line message: the error, or when the reconciler will look again. */
function messageOf(record: ReconcileRecord): string | null {
  if (record.error !== undefined) return record.error;
  if (record.requeueAfterMs !== undefined) return `looking again in ${formatMs(record.requeueAfterMs)}`;
  return null;
}

function formatMs(ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 100) / 10} s`;
}
