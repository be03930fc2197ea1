/**
 * Binding under contention: many Apps bind their volumes to the one node at the same moment, and
 * the node's disk is never promised twice (the commit locks the node row and re-checks).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import { resolveAppVolumes } from '../../../controllers/app-volumes.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key, ReconcileContext } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
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
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  await store.query({ name: 'test.node', text: `insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu, disk) values ('n1', 'u', 1, 'ready', $1, 4000, $2)` }, [8 * GiB, 10 * GiB]);
  await store.query({
    name: 'test.agent',
    text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement, isolated) values ('n1', now(), now(), 2000, $1, $2, 'rss-polling', true)`,
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
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => resolveAppVolumes(stores[i % stores.length]!, ctx(i), app(i), { memory: 64 * 2 ** 20, liveWithinMs: 60_000, maxInstancesPerNode: 250, allowUnisolatedNodes: false })));
    const bound = results.filter((r) => r.pinnedNode === 'n1');
    expect(bound).toHaveLength(3);
    for (const r of results.filter((x) => !x.pinnedNode)) expect(r.unplaced?.reason).toBe('Unschedulable');
    const [{ total }] = (await stores[0]!.query<{ total: number }>({ name: 'test.bound', text: `select coalesce(sum(size), 0)::float8 as total from platform.volumes where node = 'n1'` })) as [{ total: number }];
    expect(total).toBe(9 * GiB);
  });

  it('says SizeExceeded for an App whose volume holds more than its size, and binds no new volume of that tenant until it is back within', async () => {
    const store = stores[0]!;
    const options = { memory: 64 * 2 ** 20, liveWithinMs: 60_000, maxInstancesPerNode: 250, allowUnisolatedNodes: false };
    const volume = (key: string, tenant: string, node: string | null, usage: number | null) =>
      store.query({ name: 'test.volume_usage', text: `insert into platform.volumes (key, uid, tenant, size, node, usage) values ($1, 'u', $2, $3, $4, $5)` }, [key, tenant, GiB / 4, node, usage]);
    const mounting = (ns: string, name: string, vol: string): App =>
      ({ apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name, namespace: ns }, spec: { replicas: 1, command: ['x'], resources: { memory: '64Mi' }, volumes: [{ volume: vol, mountPath: '/data' }] } }) as App;
    await volume('acme/full', 'acme', 'n1', 0.375 * GiB); // n1 has 10Gi: 9Gi taken above, these are 256Mi
    await volume('acme/new', 'acme', null, null);
    await volume('other/new', 'other', null, null);

    // The App on the full volume keeps its node and says why.
    expect(await resolveAppVolumes(store, ctx(20), mounting('acme', 'db', 'full'), options)).toEqual({
      pinnedNode: 'n1',
      overSize: 'volume acme/full holds 384Mi, more than its spec.size 256Mi (the process runtime does not enforce sizes): grow spec.size or delete data; the tenant gets no new volume bound meanwhile',
    });
    // The tenant's next binding is refused; another tenant's is not.
    expect(await resolveAppVolumes(store, ctx(21), mounting('acme', 'web', 'new'), options)).toEqual({
      unplaced: { reason: 'SizeExceeded', message: 'volume acme/full holds 384Mi, more than its spec.size 256Mi (the process runtime does not enforce sizes): no new volume of this tenant is bound until it is back within its size' },
    });
    expect((await resolveAppVolumes(store, ctx(22), mounting('other', 'web', 'new'), options)).pinnedNode).toBe('n1');

    // Back within its size: the binding goes ahead.
    await store.query({ name: 'test.volume_shrink', text: `update platform.volumes set usage = $2 where key = $1` }, ['acme/full', 0.125 * GiB]);
    expect((await resolveAppVolumes(store, ctx(23), mounting('acme', 'web', 'new'), options)).pinnedNode).toBe('n1');
  });
});
