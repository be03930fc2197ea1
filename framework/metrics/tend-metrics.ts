/** tend's own metrics beside controller-runtime's: membership, informers' lists, the database pool and its failures, the journal's drops. */
import { Counter, Gauge, type Registry } from 'prom-client';
import { DATABASE_FAILURE_KINDS, type DatabaseFailureKind, type Store } from '../store/index.js';

export interface TendMetricSources {
  /** Members owning keys now, this replica included when active. */
  readonly activeMembers?: () => number;
  /** 1 while this replica owns keys. */
  readonly selfActive?: () => boolean;
  readonly store?: Store;
  /** The informers' list counts: the first list, and each list after a watch too old to resume (410 Gone). */
  readonly informers?: () => Iterable<{ readonly resource: string; readonly lists: number; readonly expired: number }>;
  /** Reconcile records the journal dropped so far because too many were waiting to be written. */
  readonly journalDropped?: () => number;
}

/** Registers tend_* gauges read at scrape time. */
export function registerTendMetrics(registry: Registry, sources: TendMetricSources): void {
  const registers = [registry];
  const { activeMembers, selfActive, store, informers, journalDropped } = sources;
  if (activeMembers) {
    new Gauge({ name: 'tend_members_active', help: 'Replicas currently owning keys, as this replica sees them', registers, collect() { this.set(activeMembers()); } });
  }
  if (selfActive) {
    new Gauge({ name: 'tend_member_active', help: '1 while this replica holds a live membership and owns keys', registers, collect() { this.set(selfActive() ? 1 : 0); } });
  }
  if (informers) {
    // Read from the informers at scrape time; they only ever grow.
    const seen = new Map<string, number>();
    new Counter({
      name: 'tend_informer_lists_total',
      help: 'Full lists by informers, by resource and reason: start (the first) or expired (the watch\'s resourceVersion was too old to resume from, 410 Gone: API server restart, etcd compaction)',
      labelNames: ['resource', 'reason'],
      registers,
      collect() {
        for (const { resource, lists, expired } of informers()) {
          for (const [reason, count] of [['start', Math.min(lists, 1)], ['expired', expired]] as const) {
            const id = `${resource} ${reason}`;
            this.inc({ resource, reason }, count - (seen.get(id) ?? 0));
            seen.set(id, count);
          }
        }
      },
    });
  }
  if (journalDropped) {
    let seen = 0;
    new Counter({
      name: 'tend_journal_dropped_total',
      help: 'Reconcile records the journal (tend.reconciles) did not write because too many were already waiting (PostgreSQL slow or unreachable)',
      registers,
      collect() {
        const dropped = journalDropped();
        this.inc(dropped - seen);
        seen = dropped;
      },
    });
  }
  if (store) {
    new Gauge({
      name: 'tend_db_pool_connections',
      help: 'PostgreSQL pool connections by state (total, idle, waiting = callers queued for one, max = how many it may open: poolSize, or what it held when PostgreSQL refused one more)',
      labelNames: ['state'],
      registers,
      collect() {
        const stats = store.stats();
        this.set({ state: 'total' }, stats.total);
        this.set({ state: 'idle' }, stats.idle);
        this.set({ state: 'waiting' }, stats.waiting);
        this.set({ state: 'max' }, stats.max);
      },
    });
    new Gauge({
      name: 'tend_db_available',
      help: '1 while PostgreSQL answers this process; 0 from a failure that concerns the whole database (unreachable, too many connections, a connection lost or silent) until a query succeeds',
      registers,
      collect() {
        this.set(store.health().available ? 1 : 0);
      },
    });
    // Counted by the Store; the counter catches up at each scrape.
    const seen = Object.fromEntries(DATABASE_FAILURE_KINDS.map((k) => [k, 0])) as Record<DatabaseFailureKind, number>;
    new Counter({
      name: 'tend_db_errors_total',
      help: 'Queries that failed because of the database, not the statement, by kind: unreachable, too_many_connections, connection_lost (idle ones in the pool too), no_answer (silent past the query timeout), pool_exhausted (this process\'s pool)',
      labelNames: ['kind'],
      registers,
      collect() {
        const failures = store.health().failures;
        for (const kind of DATABASE_FAILURE_KINDS) {
          this.inc({ kind }, failures[kind] - seen[kind]);
          seen[kind] = failures[kind];
        }
      },
    });
  }
}
