/**
 * The revision history's queries against a real PostgreSQL: numbering, renumbering on a return,
 * what pruning keeps, fencing, and that an App created again under its name starts afresh.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgetRevisions, markRevisionAvailable, markRolledBack, pruneRevisions, recordRevision, revisionsOfApp } from '../../../controllers/app-revision-queries.js';
import { isFenced } from '../../../framework/coordination/fence.js';
import { createLogger } from '../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { REVISION_HISTORY_LIMIT, type RevisionRow } from '../../../reconcilers/app-revisions.js';
import { FreshDatabases } from '../../env/fresh-database.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('revisions');
let store: Store;

beforeAll(async () => {
  store = new Store({ connectionString: await databases.create(), logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
});

afterAll(async () => {
  await store?.close();
  await databases.dropAll();
});

const record = (uid: string, revision: string, fence = '0') => store.query(recordRevision, [uid, 'acme/web', revision, JSON.stringify({ command: [revision] }), fence]);
const history = (uid: string) => store.query<RevisionRow>(revisionsOfApp, [uid]);
const numbers = async (uid: string) => (await history(uid)).map((r) => `${r.number} ${r.revision}`);

describe('platform.app_revisions', () => {
  it('numbers revisions in order, and a revision that returns takes the next number without its failure', async () => {
    for (const r of ['r1', 'r2', 'r3']) await record('u1', r);
    await store.query(markRevisionAvailable, ['u1', 'r1', '0']);
    await store.query(markRolledBack, ['u1', 'r3', 4, 'it crashed', 'r1', '0']);
    expect((await history('u1'))[0]).toMatchObject({ revision: 'r3', failedGeneration: 4, failure: 'it crashed', rolledBackTo: 'r1' });
    await record('u1', 'r3');
    await record('u1', 'r1');
    expect(await numbers('u1')).toEqual(['5 r1', '4 r3', '2 r2']);
    const [r1, r3] = await history('u1');
    expect(r1!.availableAt).toBeInstanceOf(Date); // it ran fully once: still a revision to return to
    expect(r3).toMatchObject({ failedGeneration: null, failure: null, rolledBackTo: null });
  });

  it(`keeps the newest ${REVISION_HISTORY_LIMIT} and the newest available one, however old`, async () => {
    for (let n = 1; n <= 14; n++) {
      await record('u2', `r${n}`);
      if (n === 2 || n === 3) await store.query(markRevisionAvailable, ['u2', `r${n}`, '0']);
      await store.query(pruneRevisions, ['u2', REVISION_HISTORY_LIMIT, '0']);
    }
    expect(await numbers('u2')).toEqual(['14 r14', '13 r13', '12 r12', '11 r11', '10 r10', '9 r9', '8 r8', '7 r7', '6 r6', '5 r5', '3 r3']);
    expect(await numbers('u1')).toEqual(['5 r1', '4 r3', '2 r2']);
  });

  it('refuses a write with an ownership epoch that is not current, and forgets an App by its uid only', async () => {
    expect(isFenced(await record('u3', 'r1', '987654').catch((e: unknown) => e))).toBe(true);
    expect(await history('u3')).toEqual([]);
    // The same name, another uid: an App created again starts with no history.
    await record('u3', 'r1');
    await store.query(forgetRevisions, ['u2', '0']);
    expect(await history('u2')).toEqual([]);
    expect(await numbers('u3')).toEqual(['1 r1']);
  });
});
