import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entriesFor, ReconcileJournal, type JournalRow } from '../../../../framework/journal/index.js';
import { createLogger } from '../../../../framework/log/logger.js';
import type { Key } from '../../../../framework/reconcile/index.js';
import type { ReconcileRecord } from '../../../../framework/runtime/controller.js';
import { Store, frameworkMigrationsFolder, migrate } from '../../../../framework/store/index.js';
import { FreshDatabases } from '../../../env/fresh-database.js';

const databases = new FreshDatabases('tend_journal');
const logger = createLogger({ level: 'silent' });
let store: Store;

beforeAll(async () => {
  store = new Store({ connectionString: await databases.create(), logger });
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
});
