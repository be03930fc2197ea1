import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entriesFor, ReconcileJournal, type JournalRow } from '../../../../framework/journal/index.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { registerTendMetrics } from '../../../../framework/metrics/tend-metrics.js';
import type { Key } from '../../../../framework/reconcile/index.js';
import type { ReconcileRecord } from '../../../../framework/runtime/controller.js';
import { Store, frameworkMigrationsFolder, migrate } from '../../../../framework/store/index.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';

const databases = new FreshDatabases('tend_journal');
const logger = createLogger({ level: 'silent' });
let store: Store;
let databaseUrl: string;

beforeAll(async () => {
  databaseUrl = await databases.create();
  store = new Store({ connectionString: databaseUrl, logger });
  await migrate(store, { folders: [frameworkMigrationsFolder] });
});

afterAll(async () => {
  await store.close();
  await databases.dropAll();
});

function record(key: string, resourceVersion: string, extra: Partial<ReconcileRecord> = {}): ReconcileRecord {
  return { controller: 'app', kind: 'App', key: key as Key, reconcileId: 'r', generation: 1, resourceVersion, result: 'success', durationMs: 3, ...extra };
}

const entries = (key: string, limit = 100) => store.query<JournalRow>(entriesFor, ['App', key, limit]);

describe('the reconcile journal', () => {
  it('writes a reconcile once per result and resourceVersion: repeats in steady state write nothing', async () => {
    const journal = new ReconcileJournal({ store, replica: 'r1', logger, flushMs: 10_000 });
    for (let i = 0; i < 5; i++) journal.record(record('ns/steady', '7'));
    journal.record(record('ns/steady', '7', { result: 'requeue_after', requeueAfterMs: 2_000 }));
    // A requeue's delay varies from run to run; the same outcome is still not written again.
    journal.record(record('ns/steady', '7', { result: 'requeue_after', requeueAfterMs: 2_500 }));
    journal.record(record('ns/steady', '8'));
    // A conflict is retried within milliseconds: not worth a line.
    journal.record(record('ns/steady', '8', { result: 'requeue' }));
    journal.record(record('ns/steady', '8', { result: 'error', error: 'node n1 is full' }));
    journal.record(record('ns/steady', '8', { result: 'error', error: 'node n1 is full' }));
    await journal.flush();
    const rows = await entries('ns/steady');
    expect(rows.map((r) => [r.resource_version, r.result, r.message, r.replica])).toEqual([
      ['8', 'error', 'node n1 is full', 'r1'],
      ['8', 'success', null, 'r1'],
      ['7', 'requeue_after', 'looking again in 2 s', 'r1'],
      ['7', 'success', null, 'r1'],
    ]);
    const [{ n }] = (await store.query<{ n: number }>({ name: 'test.count_reconciles', text: 'select count(*)::int as n from tend.reconciles' })) as [{ n: number }];
    await journal.flush();
    expect((await store.query<{ n: number }>({ name: 'test.count_reconciles', text: 'select count(*)::int as n from tend.reconciles' }))[0]!.n).toBe(n);
  });

  it('keeps the newest entries of each object, and entries from every replica', async () => {
    const a = new ReconcileJournal({ store, replica: 'a', logger, keep: 3, flushMs: 10_000 });
    const b = new ReconcileJournal({ store, replica: 'b', logger, keep: 3, flushMs: 10_000 });
    for (let rv = 1; rv <= 5; rv++) a.record(record('ns/busy', String(rv)));
    await a.flush();
    b.record(record('ns/busy', '6'));
    await b.flush();
    expect((await entries('ns/busy')).map((r) => `${r.replica}:${r.resource_version}`)).toEqual(['b:6', 'a:5', 'a:4']);
  });

  it('forgets entries older than retainMs, also of objects that are gone', async () => {
    await store.query({ name: 'test.age_entries', text: `update tend.reconciles set at = now() - interval '8 days' where key = 'ns/busy'` });
    const journal = new ReconcileJournal({ store, replica: 'c', logger, flushMs: 10_000 });
    journal.record(record('ns/fresh', '1'));
    await journal.flush();
    expect(await entries('ns/busy')).toEqual([]);
    expect(await entries('ns/fresh')).toHaveLength(1);
  });

  it('writes nothing after a restart, or on another replica, for what the newest entry already says', async () => {
    const first = new ReconcileJournal({ store, replica: 'r1', logger, flushMs: 10_000 });
    first.record(record('ns/quiet', '4'));
    first.record(record('ns/failing', '4', { result: 'error', error: 'node n1 is full' }));
    first.record(record('ns/waiting', '4', { result: 'requeue_after', requeueAfterMs: 1_000 }));
    await first.flush();
    // r1 started again and r2 (the keys moved): neither remembers the objects; the table does.
    for (const replica of ['r1', 'r2']) {
      const restarted = new ReconcileJournal({ store, replica, logger, flushMs: 10_000 });
      restarted.record(record('ns/quiet', '4'));
      restarted.record(record('ns/failing', '4', { result: 'error', error: 'node n1 is full' }));
      restarted.record(record('ns/waiting', '4', { result: 'requeue_after', requeueAfterMs: 1_500 }));
      await restarted.flush();
    }
    for (const key of ['ns/quiet', 'ns/failing', 'ns/waiting']) expect((await entries(key)).map((r) => r.replica)).toEqual(['r1']);
    // What differs from the newest entry is written: another version, another error.
    const later = new ReconcileJournal({ store, replica: 'r3', logger, flushMs: 10_000 });
    later.record(record('ns/quiet', '5'));
    later.record(record('ns/failing', '4', { result: 'error', error: 'node n2 is full' }));
    later.record(record('ns/waiting', '4'));
    await later.flush();
    expect((await entries('ns/quiet')).map((r) => `${r.replica}:${r.resource_version}`)).toEqual(['r3:5', 'r1:4']);
    expect((await entries('ns/failing')).map((r) => r.message)).toEqual(['node n2 is full', 'node n1 is full']);
    expect((await entries('ns/waiting')).map((r) => r.result)).toEqual(['success', 'requeue_after']);
  });

  it('drops records past maxPending while a write waits, counts them in tend_journal_dropped_total and logs a warning', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', destination: { write: (line: string) => void lines.push(line) } });
    const journal = new ReconcileJournal({ store, replica: 'full', logger: log, flushMs: 10_000, maxPending: 3 });
    const registry = new Registry();
    registerTendMetrics(registry, { journalDropped: () => journal.dropped });
    // Another session holds the table: the journal's insert waits for it.
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    await holder.query('begin');
    await holder.query('lock table tend.reconciles in exclusive mode');
    journal.record(record('ns/full-0', '1'));
    const writing = journal.flush();
    // Asked on another connection: inside the holder's transaction pg_stat_activity stays as first read.
    const waiting = { name: 'test.journal_insert_waiting', text: `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like 'insert into tend.reconciles%'` };
    await eventually(async () => ((await store.query<{ n: number }>(waiting))[0]!.n > 0 ? true : undefined), { what: 'the journal insert waiting for the lock' });
    for (let i = 1; i <= 5; i++) journal.record(record(`ns/full-${i}`, '1'));
    expect(journal.dropped).toBe(2);
    expect(await registry.getSingleMetricAsString('tend_journal_dropped_total')).toMatch(/^tend_journal_dropped_total 2$/m);
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual([
      'the reconcile journal has 3 records waiting to be written (PostgreSQL slow or unreachable): dropping new ones until they are written (tend_journal_dropped_total)',
    ]);
    await holder.query('rollback');
    await holder.end();
    await writing;
    await journal.flush();
    expect(lines.map((l) => JSON.parse(l).msg).at(-1)).toBe('the reconcile journal dropped 2 records while it was full');
    const written = async (i: number) => (await entries(`ns/full-${i}`)).length;
    expect(await Promise.all([0, 1, 2, 3, 4, 5].map(written))).toEqual([1, 1, 1, 1, 0, 0]);
    // A dropped record is not taken as written: the object's next reconcile is journaled.
    journal.record(record('ns/full-4', '1'));
    await journal.flush();
    expect(await written(4)).toBe(1);
  });
});
