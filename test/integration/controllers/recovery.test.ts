/**
 * A replica rides out its servers restarting: the API server (its watches break and resume) and
 * PostgreSQL (its queries fail for a while) — without a process restart and without missing a change.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceType } from '../../../api/resource-types.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { KubeClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { startTestEnvironment, type TestEnvironment } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';

let env: TestEnvironment;
let store: Store;
let tenants: KubeClient<Tenant>;
const stop = new AbortController();
let running: Promise<void>;
const logger = createLogger({ level: 'silent' });

beforeAll(async () => {
  // This test stops PostgreSQL, so it needs its own server even when DATABASE_URL names a shared one.
  env = await startTestEnvironment({ env: { ...process.env, DATABASE_URL: '' } });
  const kc = new KubeConfig();
  kc.loadFromFile(env.apiserver.kubeconfigPath);
  tenants = new KubeClient<Tenant>(resourceType('Tenant'), kc);
  store = new Store({ connectionString: env.postgres.databaseUrl, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  const manager = buildPlatform({ kubeConfig: kc, store, logger, replica: 'solo', membership: { heartbeatMs: 200, ttlMs: 2_000, joinDelayMs: 0 } });
  running = manager.start(stop.signal);
}, 120_000);

afterAll(async () => {
  stop.abort();
  await running;
  await env?.stop();
});

const create = (name: string, ns: string) =>
  tenants.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name }, spec: { namespaces: [ns] } });

async function readyAt(name: string, generation: number): Promise<Tenant> {
  return eventually(async () => {
    const t = await tenants.get(name as Key);
    return t?.status?.observedGeneration === generation && findCondition(t.status.conditions, 'Ready')?.status === 'True' ? t : undefined;
  }, { what: `${name} Ready at generation ${generation}`, timeoutMs: 30_000 });
}

const rowGeneration = async (name: string) =>
  (await store.query<{ generation: number }>({ name: 'test.row_generation', text: 'select generation::int as generation from platform.tenants where name = $1' }, [name]))[0]?.generation;

describe('a replica whose servers restart', () => {
  it('resumes its watches after the API server restarts and misses no change made around it', async () => {
    await create('before', 'ns-before');
    const before = await readyAt('before', 1);
    await env.apiserver.restart();
    // Right after the restart: a create, an update and a delete, all of which must be seen.
    await create('after', 'ns-after');
    await tenants.update({ ...(await tenants.get('before' as Key))!, spec: { namespaces: ['ns-before', 'ns-more'] } });
    await create('doomed', 'ns-doomed');
    await readyAt('doomed', 1);
    await tenants.delete('doomed' as Key);

    await readyAt('after', 1);
    expect((await readyAt('before', 2)).metadata.uid).toBe(before.metadata.uid);
    await eventually(async () => ((await tenants.get('doomed' as Key)) === undefined ? true : undefined), { what: 'doomed finalized and gone' });
    expect(await rowGeneration('doomed')).toBeUndefined();
  });

  it('keeps retrying while PostgreSQL is down and converges once it is back, without a restart', async () => {
    await env.postgres.process!.stop();
    await create('during-outage', 'ns-outage');
    // Nothing can be written while the database is down: the tenant is not Ready yet.
    await eventually(async () => ((await tenants.get('during-outage' as Key)) ? true : undefined));
    expect(findCondition((await tenants.get('during-outage' as Key))?.status?.conditions, 'Ready')?.status).not.toBe('True');
    await env.postgres.restart();
    await readyAt('during-outage', 1);
    expect(await rowGeneration('during-outage')).toBe(1);
  });
});
