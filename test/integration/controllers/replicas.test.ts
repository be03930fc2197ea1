/**
 * The promise of leader-less coordination, tested with real processes: three `tend run`
 * replicas share a burst of 500 Tenants; one is killed with SIGKILL in the middle of it.
 * Every tenant still becomes Ready, and each row is written exactly once (its spec changed once).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceType } from '../../../api/resource-types.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { KubeClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../../framework/log/logger.js';
import { Store } from '../../../framework/store/index.js';
import { startTestEnvironment, type TestEnvironment } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';
import { freePort } from '../../env/ports.js';

const TENANTS = 500;
let env: TestEnvironment;
let store: Store;
let tenants: KubeClient<Tenant>;
const replicas: ServerProcess[] = [];

beforeAll(async () => {
  // A private environment: 500 tenants and three replicas stay out of the other tests' way.
  env = await startTestEnvironment();
  const kc = new KubeConfig();
  kc.loadFromFile(env.apiserver.kubeconfigPath);
  tenants = new KubeClient<Tenant>(resourceType('Tenant'), kc);
  store = new Store({ connectionString: env.postgres.databaseUrl, logger: createLogger({ level: 'silent' }) });
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await store?.close();
  await env?.stop();
});

function startReplica(name: string, extra: string[] = []): ServerProcess {
  const replica = startTend(name, [
    'run',
    ...extra,
    '--kubeconfig', env.apiserver.kubeconfigPath,
    '--database-url', env.postgres.databaseUrl,
    '--replica', name,
    '--heartbeat-ms', '250',
    '--member-ttl-ms', '2000',
    '--join-delay-ms', '750',
  ], join(env.dir, `${name}.log`));
  replicas.push(replica);
  return replica;
}

async function liveMembers(): Promise<number> {
  const rows = await store
    .query<{ n: number }>({ name: 'test.live_members', text: 'select count(*)::int as n from tend.members where expires_at > now() and active_at <= now()' })
    .catch(() => [{ n: 0 }]);
  return rows[0]!.n;
}

describe('three replicas as separate processes', () => {
  it('converge a burst of 500 tenants although one is killed mid-burst, writing each row once', async () => {
    const healthPort = await freePort();
    const [, victim] = [startReplica('r1', ['--health-port', String(healthPort)]), startReplica('r2'), startReplica('r3')];
    await eventually(async () => ((await liveMembers()) === 3 ? true : undefined), { what: 'three active members', timeoutMs: 30_000 });

    const names = Array.from({ length: TENANTS }, (_, i) => `burst-${String(i).padStart(3, '0')}`);
    let created = 0;
    const create = async (name: string) => {
      await tenants.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name }, spec: { namespaces: [`ns-${name}`] } });
      if (++created === Math.floor(TENANTS / 3)) await victim!.kill();
    };
    for (let i = 0; i < names.length; i += 20) await Promise.all(names.slice(i, i + 20).map(create));
    expect(victim!.running).toBe(false);

    await eventually(async () => {
      const { items } = await tenants.list();
      const ready = items.filter((t) => names.includes(t.metadata.name) && t.status?.observedGeneration === 1 && findCondition(t.status?.conditions, 'Ready')?.status === 'True');
      return ready.length === TENANTS ? true : undefined;
    }, { what: `all ${TENANTS} tenants Ready`, timeoutMs: 90_000 });

    const rows = await store.query<{ name: string; writes: number }>({ name: 'test.tenant_writes', text: 'select name, writes::int as writes from platform.tenants' });
    expect(rows).toHaveLength(TENANTS);
    expect(rows.filter((r) => r.writes !== 1)).toEqual([]);
    expect(await liveMembers()).toBe(2);

    // The survivor's own view: ready, and its metrics count the work it did.
    const readyz = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    expect(readyz.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    const succeeded = Number(/^controller_runtime_reconcile_total\{controller="tenant",result="success"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(succeeded).toBeGreaterThan(0);
    expect(metrics).toMatch(/^tend_members_active 2$/m);
    expect(metrics).toMatch(/^workqueue_depth\{controller="tenant",name="tenant"\} \d+$/m);

    // SIGTERM: drain, leave the member list, exit 0.
    const survivor = replicas[0]!;
    expect(await survivor.stop()).toEqual({ code: 0, signal: null });
    await eventually(async () => ((await liveMembers()) === 1 ? true : undefined), { what: 'the stopped replica left the member list' });
  }, 150_000);
});
