/**
 * Volume claims under contention: Apps on separate pools (as on separate controller replicas)
 * claim the same volumes at the same moment, against real PostgreSQL; one App wins each volume,
 * and an App mounting several gets all of them or none.
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
const databases = new FreshDatabases('claims');
const stores: Store[] = [];
const options = { memory: 64 * 2 ** 20, liveWithinMs: 60_000, maxInstancesPerNode: 250, allowUnisolatedNodes: false };

beforeAll(async () => {
  const url = await databases.create();
  for (let i = 0; i < 4; i++) stores.push(new Store({ connectionString: url, logger, poolSize: 3 }));
  const store = stores[0]!;
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  await store.query({ name: 'test.node', text: `insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu, disk) values ('n1', 'u', 1, 'ready', $1, 4000, $2)` }, [8 * GiB, 100 * GiB]);
  await store.query({
    name: 'test.agent',
    text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement, isolated) values ('n1', now(), now(), 2000, $1, $2, 'rss-polling', true)`,
  }, [8 * GiB, 100 * GiB]);
  for (const v of ['shared', 'v1', 'v2', 'v3', 'v4']) {
    await store.query({ name: 'test.volume', text: `insert into platform.volumes (key, uid, tenant, size) values ($1, 'u', 't', $2)` }, [`default/${v}`, GiB]);
  }
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await databases.dropAll();
});

function app(name: string, volumes: readonly string[]): App {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name, namespace: 'default' }, spec: { replicas: 1, command: ['x'], resources: { memory: '64Mi' }, volumes: volumes.map((v) => ({ volume: v, mountPath: `/${v}` })) } } as App;
}

const ctx = (name: string): ReconcileContext => ({ key: `default/${name}` as Key, signal: new AbortController().signal, log: logger, now: () => new Date(), reconcileId: name, fence: 0n });

async function claims(): Promise<Record<string, string>> {
  const rows = await stores[0]!.query<{ volume: string; app: string }>({ name: 'test.claims', text: `select volume, app from platform.volume_claims order by volume` });
  return Object.fromEntries(rows.map((r) => [r.volume, r.app]));
}

describe('volume claims', () => {
  it('gives a volume 8 Apps claim at once to exactly one; the 7 others are told which App holds it', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `a${i}`);
    const results = await Promise.all(names.map((n, i) => resolveAppVolumes(stores[i % stores.length]!, ctx(n), app(n, ['shared']), options)));
    const winners = names.filter((_, i) => results[i]!.pinnedNode === 'n1');
    expect(winners).toHaveLength(1);
    const holder = winners[0]!;
    expect(await claims()).toEqual({ 'default/shared': `default/${holder}` });
    for (const [i, r] of results.entries()) {
      if (names[i] === holder) continue;
      expect(r).toEqual({
        unplaced: { reason: 'VolumeInUse', message: `volume default/shared is single-writer and mounted by App ${holder}: no instance starts until ${holder} stops mounting it (remove it from its spec.volumes or delete it)` },
        heldElsewhere: ['default/shared'],
      });
    }
    // The holder, asked again, still has it.
    expect((await resolveAppVolumes(stores[0]!, ctx(holder), app(holder, ['shared']), options)).pinnedNode).toBe('n1');
  });

  it('claims all the volumes of an App or none, when Apps in a ring each mount two at once', async () => {
    // b0 mounts v1+v2, b1 v2+v3, b2 v3+v4, b3 v4+v1: at most two can win, and nobody holds half.
    const ring = [['v1', 'v2'], ['v2', 'v3'], ['v3', 'v4'], ['v4', 'v1']];
    for (let round = 0; round < 5; round++) {
      await stores[0]!.query({ name: 'test.claims_clear', text: `delete from platform.volume_claims where volume <> 'default/shared'` });
      await Promise.all(ring.map((vols, i) => resolveAppVolumes(stores[i]!, ctx(`b${i}`), app(`b${i}`, vols), options)));
      const held = await claims();
      delete held['default/shared'];
      const byApp = new Map<string, string[]>();
      for (const [volume, holder] of Object.entries(held)) byApp.set(holder, [...(byApp.get(holder) ?? []), volume]);
      for (const [holder, volumes] of byApp) expect(volumes, `${holder} holds ${volumes.join(', ')}`).toHaveLength(2);
      expect(byApp.size).toBeGreaterThanOrEqual(1);
    }
  });
});
