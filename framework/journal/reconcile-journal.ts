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
  /** Records that may wait to be written; more are dropped (counted by `dropped`, and logged). @default 10_000 */
  readonly maxPending?: number;
}

interface Entry {
  readonly at: Date;
  readonly record: ReconcileRecord;
  readonly message: string | null;
  /** Recorded while this process knew no earlier entry of the object: compared with the journal's last one before it is written. */
  readonly unverified: boolean;
}

const MAX_REMEMBERED = 100_000;
const MAX_PENDING = 10_000;
const PRUNE_EVERY_MS = 600_000;

/**
 * Writes what reconciles concluded to tend.reconciles, for `tend why` and `tend logs` from any
 * replica. Steady state stays free: a reconcile with the same result and error on the same
 * resourceVersion as the object's previous entry is not written. The previous entry is this
 * process's own last record of the object, or, when it has none (it just started, or the key just
 * moved to it), the journal's newest entry, read in one query per batch: so a restarted replica
 * of a quiet cluster writes nothing. Writing is batched, one batch at a time, and best effort: a
 * failed write is logged, never fails a reconcile; records beyond `maxPending` waiting are dropped,
 * counted and logged.
 */
export class ReconcileJournal {
  private readonly last = new Map<string, string>();
  private pending: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private lastPrune = 0;
  private droppedTotal = 0;
  /** Dropped since the journal last had room: reported when the waiting records go out. */
  private droppedInEpisode = 0;

  constructor(private readonly options: ReconcileJournalOptions) {}

  /** Records dropped so far because `maxPending` records were waiting (tend_journal_dropped_total). */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** Takes one finished reconcile (the Controller's `onReconciled`). */
  readonly record = (record: ReconcileRecord): void => {
    // A conflict is retried within milliseconds: noise for a person, so not journaled.
    if (record.result === 'requeue') return;
    const id = idOf(record.controller, record.key);
    const signature = signatureOf(record.result, record.resourceVersion, record.error);
    const known = this.last.get(id);
    if (known === signature) return;
    const maxPending = this.options.maxPending ?? MAX_PENDING;
    if (this.pending.length >= maxPending) {
      // Not remembered as written, so the object's next reconcile tries again.
      this.last.delete(id);
      this.droppedTotal++;
      if (this.droppedInEpisode++ === 0) {
        this.options.logger.warn({ pending: this.pending.length }, `the reconcile journal has ${this.pending.length} records waiting to be written (PostgreSQL slow or unreachable): dropping new ones until they are written (tend_journal_dropped_total)`);
      }
      return;
    }
    this.last.delete(id);
    this.last.set(id, signature);
    if (this.last.size > MAX_REMEMBERED) this.last.delete(this.last.keys().next().value!);
    this.pending.push({ at: new Date(), record, message: messageOf(record), unverified: known === undefined });
    this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs ?? 250);
  };

  /** Writes what is pending; resolves when written (or failed and logged). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // One write at a time: what comes meanwhile waits in `pending` (bounded) for the next batch,
    // instead of batches piling up behind a slow database.
    this.writing = this.writing.then(async () => {
      const batch = this.pending;
      this.pending = [];
      if (this.droppedInEpisode > 0) {
        this.options.logger.warn({ dropped: this.droppedInEpisode, writing: batch.length }, `the reconcile journal dropped ${this.droppedInEpisode} records while it was full`);
        this.droppedInEpisode = 0;
      }
      if (batch.length > 0) await this.write(batch);
    });
    await this.writing;
  }

  private async write(entries: readonly Entry[]): Promise<void> {
    const { store, replica, logger } = this.options;
    try {
      const batch = await this.withoutRepeats(entries);
      if (batch.length === 0) return;
      const column = <V>(fn: (e: Entry) => V): V[] => batch.map(fn);
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
      for (const e of entries) this.last.delete(idOf(e.record.controller, e.record.key));
      logger.warn({ err: (err as Error).message, entries: entries.length }, 'could not write the reconcile journal');
    }
  }

  /** The batch less the unverified entries that say what the journal's newest entry of their object says already. */
  private async withoutRepeats(batch: readonly Entry[]): Promise<readonly Entry[]> {
    const unverified = [...new Map(batch.filter((e) => e.unverified).map((e) => [idOf(e.record.controller, e.record.key), e.record])).values()];
    if (unverified.length === 0) return batch;
    const rows = await this.options.store.query<{ controller: string; key: string; result: string; resource_version: string | null; message: string | null }>(q.lastEntries, [
      unverified.map((r) => r.controller),
      unverified.map((r) => r.kind),
      unverified.map((r) => r.key),
    ]);
    // An entry's message is its error when the result is one (messageOf).
    const lastOf = new Map(rows.map((r) => [idOf(r.controller, r.key), signatureOf(r.result, r.resource_version ?? undefined, r.result === 'error' ? (r.message ?? '') : undefined)]));
    return batch.filter((e) => !e.unverified || lastOf.get(idOf(e.record.controller, e.record.key)) !== signatureOf(e.record.result, e.record.resourceVersion, e.record.error));
  }
}

function idOf(controller: string, key: string): string {
  return `${controller}\u0000${key}`;
}

/** What makes two reconciles of an object the same for the journal. Not the message: a requeue's delay varies from run to run (a node's next heartbeat check). */
function signatureOf(result: string, resourceVersion: string | undefined, error: string | undefined): string {
  return `${result}\u0000${resourceVersion ?? ''}\u0000${error ?? ''}`;
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
