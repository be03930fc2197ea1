/**
 * Instances whose App is gone are collected. The App finalizer stops an App's instances before the
 * App goes, but a placement committed just after the deleting replica saw none (ownership moving
 * mid-way: one was found running for over ten minutes under churn) left a row nothing stopped.
 * Here the row is written the way such a late placement writes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../../api/admission.js';
import { buildPlatform, platformClients } from '../../../controllers/platform.js';
import { PostgresClient } from '../../../framework/client/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('orphans');
const stop = new AbortController();
let store: Store;
let running: Promise<void>;

beforeAll(async () => {
  const url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  const clients = platformClients((type) => new PostgresClient(type, store, { listenUrl: url, admit }));
  // An App that exists: its instance must be left alone.
  await clients.app.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'kept', namespace: 'live' }, spec: { replicas: 1, command: ['node', 'server.mjs'], resources: { memory: '64Mi' } } });
  await store.query({ name: 'test.node', text: `insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu) values ('n1', 'u1', 1, 'ready', 2147483648, 2000)` }, []);
  for (const [id, app] of [['ghost.web-r1-000001', 'ghost/web'], ['live.kept-r1-000001', 'live/kept']]) {
    await store.query(
      { name: 'test.instance', text: `insert into platform.instances (id, app, tenant, revision, node, memory, cpu, spec, phase) values ($1, $2, 'acme', 'r1', 'n1', 67108864, 100, '{}', 'running')` },
      [id, app],
    );
  }
  running = buildPlatform({ store, logger, replica: 'test', membership: false, orphanSweepMs: 200 }).start(stop.signal);
});

afterAll(async () => {
  stop.abort();
  await running;
  await databases.dropAll();
});

const instance = async (id: string) =>
  (await store.query<{ desired: string }>({ name: 'test.instance_row', text: 'select desired from platform.instances where id = $1' }, [id]))[0];

describe('the orphan instance collector', () => {
  it('stops the instances of an App that no longer exists, forgets them once stopped, and leaves live Apps alone', async () => {
    await eventually(async () => ((await instance('ghost.web-r1-000001'))?.desired === 'stopped' ? true : undefined), { what: 'the orphan stopped' });
    // The same sweep looked at the live App's instance and left it running.
    expect(await instance('live.kept-r1-000001')).toEqual({ desired: 'running' });

    // What the agent reports once the process has exited; the next sweep removes the row.
    await store.query({ name: 'test.instance_stopped', text: `update platform.instances set phase = 'stopped' where id = 'ghost.web-r1-000001'` }, []);
    await eventually(async () => ((await instance('ghost.web-r1-000001')) === undefined ? true : undefined), { what: 'the orphan forgotten' });
    expect(await instance('live.kept-r1-000001')).toEqual({ desired: 'running' });
  });
});
