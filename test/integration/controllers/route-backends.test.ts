/**
 * Which instances a Route sends traffic to, as PostgreSQL answers it (platform.backends_of_app):
 * ready instances on live nodes; and when every ready instance is on a lost node, those — a
 * silent agent is not a dead instance, and the chaos run found routing to nothing turned two agent
 * restarts into a 10 s outage of a healthy App.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendsOfApp } from '../../../controllers/route-queries.js';
import { createLogger } from '../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { FreshDatabases } from '../../env/fresh-database.js';

const databases = new FreshDatabases('route-backends');
let store: Store;

beforeAll(async () => {
  store = new Store({ connectionString: await databases.create(), logger: createLogger({ level: 'silent' }) });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  await store.query({
    name: 'test.nodes',
    text: `insert into platform.nodes (name, uid, generation, address, state, allocatable_memory, allocatable_cpu, lost_since)
           values ('live', 'u1', 1, '10.0.0.1', 'ready', 2147483648, 2000, null), ('lost', 'u2', 1, '10.0.0.2', 'ready', 2147483648, 2000, now())`,
  }, []);
  const instance = (id: string, app: string, node: string, ready: boolean) =>
    store.query({ name: 'test.instance', text: `insert into platform.instances (id, app, tenant, revision, node, memory, cpu, spec, phase, ready, port) values ($1, $2, 't', 'r1', $3, 1, 1, '{}', 'running', $4, 8000)` }, [id, app, node, ready]);
  await instance('mixed-1', 'ns/mixed', 'live', true);
  await instance('mixed-2', 'ns/mixed', 'lost', true);
  await instance('stranded-1', 'ns/stranded', 'lost', true);
  await instance('stranded-2', 'ns/stranded', 'lost', false);
  await instance('stranded-3', 'ns/stranded', 'live', false);
});

afterAll(async () => {
  await store?.close();
  await databases.dropAll();
});

const backends = async (app: string) => (await store.query<{ instance: string }>(backendsOfApp, [app])).map((b) => b.instance);

describe('the backends of an App', () => {
  it('are its ready instances on live nodes when there are any', async () => {
    expect(await backends('ns/mixed')).toEqual(['mixed-1']);
  });

  it('fall back to its ready instances on lost nodes when none is ready on a live one', async () => {
    expect(await backends('ns/stranded')).toEqual(['stranded-1']);
  });
});
