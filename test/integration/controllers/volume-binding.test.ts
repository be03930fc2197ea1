/**
 * Binding under contention: many Apps bind their volumes to the one node at the same moment, and
 * the node's disk is never promised twice (the commit locks the node row and re-checks).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import { resolveAppVolumes } from '../../../controllers/app-volumes.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key, ReconcileContext } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrationsFolder, migrate } from '../../../framework/store/index.js';
import { platformMigrationsFolder } from '../../../migrations/index.js';
import { FreshDatabases } from '../../env/fresh-database.js';

const GiB = 2 ** 30;
const logger = createLogger({ level: 'silent' });
const databases = new FreshDatabases('binding');
const stores: Store[] = [];

beforeAll(async () => {
  const url = await databases.create();
  // One pool per "replica": the binds really run concurrently on separate connections.
  for (let i = 0; i < 4; i++) stores.push(new Store({ connectionString: url, logger, poolSize: 2 }));
  const store = stores[0]!;
  await migrate(store, { folders: [frameworkMigrationsFolder, platformMigrationsFolder] });
  await store.query({ name: 'test.node', text: `insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu, disk) values ('n1', 'u', 1, 'ready', $1, 4000, $2)` }, [8 * GiB, 10 * GiB]);
  await store.query({
    name: 'test.agent',
    text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement) values ('n1', now(), now(), 2000, $1, $2, 'rss-polling')`,
  }, [8 * GiB, 10 * GiB]);
  for (let i = 0; i < 8; i++) {
    await store.query({ name: 'test.volume', text: `insert into platform.volumes (key, uid, tenant, size) values ($1, 'u', 't', $2)` }, [`default/v${i}`, 3 * GiB]);
  }
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await databases.dropAll();
});

function app(i: number): App {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: `a${i}`, namespace: 'default' }, spec: { replicas: 1, command: ['x'], resources: { memory: '64Mi' }, volumes: [{ volume: `v${i}`, mountPath: '/data' }] } } as App;
}

const ctx = (i: number): ReconcileContext => ({ key: `default/a${i}` as Key, signal: new AbortController().signal, log: logger, now: () => new Date(), reconcileId: `r${i}`, fence: 0n });

describe('volume binding', () => {
  it('binds 3 of 8 volumes of 3Gi to a node offering 10Gi when 8 Apps bind at once, and says why for the rest', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => resolveAppVolumes(stores[i % stores.length]!, ctx(i), app(i), { memory: 64 * 2 ** 20, liveWithinMs: 60_000, maxInstancesPerNode: 250 })));
    const bound = results.filter((r) => r.pinnedNode === 'n1');
    expect(bound).toHaveLength(3);
    for (const r of results.filter((x) => !x.pinnedNode)) expect(r.unplaced?.reason).toBe('Unschedulable');
    const [{ total }] = (await stores[0]!.query<{ total: number }>({ name: 'test.bound', text: `select coalesce(sum(size), 0)::float8 as total from platform.volumes where node = 'n1'` })) as [{ total: number }];
    expect(total).toBe(9 * GiB);
  });
});
