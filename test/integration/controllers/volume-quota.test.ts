/**
 * Volume and storage quotas under contention: many Apps of one tenant bind their volumes at the
 * same moment through separate pools ("replicas"), and the tenant is never admitted past its quota
 * (the bind takes the tenant's advisory lock and re-checks what is bound in a fresh statement).
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
const databases = new FreshDatabases('volquota');
const stores: Store[] = [];

beforeAll(async () => {
  const url = await databases.create();
  for (let i = 0; i < 4; i++) stores.push(new Store({ connectionString: url, logger, poolSize: 2 }));
  const store = stores[0]!;
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  // Disk for every volume: only the quota can say no.
  await store.query({ name: 'test.node', text: `insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu, disk) values ('n1', 'u', 1, 'ready', $1, 4000, $2)` }, [8 * GiB, 100 * GiB]);
  await store.query({
    name: 'test.agent',
    text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement, isolated) values ('n1', now(), now(), 2000, $1, $2, 'rss-polling', true)`,
  }, [8 * GiB, 100 * GiB]);
  for (const ns of ['count', 'size']) {
    for (let i = 0; i < 8; i++) {
      await store.query({ name: 'test.volume', text: `insert into platform.volumes (key, uid, tenant, size) values ($1, 'u', $2, $3)` }, [`${ns}/v${i}`, ns, 2 * GiB]);
    }
  }
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await databases.dropAll();
});

function app(ns: string, i: number): App {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: `a${i}`, namespace: ns }, spec: { replicas: 1, command: ['x'], resources: { memory: '64Mi' }, volumes: [{ volume: `v${i}`, mountPath: '/data' }] } } as App;
}

const ctx = (i: number): ReconcileContext => ({ key: `ns/a${i}` as Key, signal: new AbortController().signal, log: logger, now: () => new Date(), reconcileId: `r${i}`, fence: 0n });

async function bindAll(ns: string, limits: { volumes?: number; storage?: number }) {
  const options = { memory: 64 * 2 ** 20, liveWithinMs: 60_000, maxInstancesPerNode: 250, allowUnisolatedNodes: false, quota: { tenant: ns, limits } };
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => resolveAppVolumes(stores[i % stores.length]!, ctx(i), app(ns, i), options)));
  const [held] = await stores[0]!.query<{ n: number; total: number }>({ name: 'test.held', text: `select count(*)::int as n, coalesce(sum(size), 0)::float8 as total from platform.volumes where tenant = $1 and node is not null` }, [ns]);
  return { results, held: held! };
}

describe('volume quotas at binding', () => {
  it('binds exactly 3 of 8 volumes when 8 Apps of a tenant with quota.volumes 3 bind at once, and says QuotaExceeded for the rest', async () => {
    const { results, held } = await bindAll('count', { volumes: 3 });
    expect(held.n).toBe(3);
    expect(results.filter((r) => r.pinnedNode === 'n1')).toHaveLength(3);
    for (const r of results.filter((x) => !x.pinnedNode)) {
      expect(r.unplaced).toEqual({ reason: 'QuotaExceeded', message: "tenant count's volume quota: 3 volumes allowed, 3 bound; not provisioned until one is deleted or the quota raised" });
    }
  });

  it('never binds past quota.storage: 5Gi lets two volumes of 2Gi in, not three', async () => {
    const { results, held } = await bindAll('size', { storage: 5 * GiB });
    expect(held.total).toBe(4 * GiB);
    expect(results.filter((r) => r.pinnedNode === 'n1')).toHaveLength(2);
    for (const r of results.filter((x) => !x.pinnedNode)) expect(r.unplaced?.reason).toBe('QuotaExceeded');
  });
});
