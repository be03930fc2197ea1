/**
 * The scheduler's commit layer under a real race: two `tend run` replicas place 200 instances at
 * once onto five simulated nodes that hold 150. Ownership splits Apps between the replicas, so
 * forty Apps of five 256Mi instances make both replicas binpack onto the same busiest node at the
 * same moment. The Apps belong to twenty tenants: placements of one tenant queue on its row lock,
 * which would serialise the race away if they all shared one. PostgreSQL, not the controllers'
 * word, decides whether a node was overbooked.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { platformClients } from '../../env/platform-clients.js';
import { startTestEnvironment, type TestEnvironment } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import { freePort } from '../../env/ports.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';

const Mi = 2 ** 20;
const NODES = 5;
const TENANTS = 20;
const APPS_PER_TENANT = 2;
const APPS = TENANTS * APPS_PER_TENANT;
const PER_APP = 5;
const INSTANCE_MEMORY = 256 * Mi;
// 8Gi − 256Mi reserved − 256Mi safety buffer (DEFAULT_CLUSTER_CONFIG) = 7680Mi = 30 instances a
// node: 150 of the 200 fit, so the last Apps to be placed must stay (partly) unscheduled.
const NODE_MEMORY = 8192 * Mi;
const RESERVED_MEMORY = 256 * Mi;
const SAFETY_BUFFER = 256 * Mi;
const ALLOCATABLE = NODE_MEMORY - RESERVED_MEMORY - SAFETY_BUFFER;
const FITS = NODES * Math.floor(ALLOCATABLE / INSTANCE_MEMORY);
// The replicas' default cluster heartbeat is 5 s (lost after 3 missed); beat well inside it.
const BEAT_MS = 1_000;

const nodeNames = Array.from({ length: NODES }, (_, i) => `tight-${i}`);
const namespaceOf = (tenant: number) => `race-${String(tenant).padStart(2, '0')}`;
const appKeys = Array.from({ length: APPS }, (_, i) => ({ namespace: namespaceOf(i % TENANTS), name: `app-${String(i).padStart(2, '0')}` }));

let env: TestEnvironment;
let store: Store;
let clients: ReturnType<typeof platformClients>;
const replicas: { name: string; process: ServerProcess; healthPort: number; logFile: string }[] = [];
let heartbeats: NodeJS.Timeout | undefined;

/** What `tend agent` writes on each heartbeat, for every simulated node in one statement. */
const beatAll = () =>
  store.query(
    {
      name: 'test.agents_beat',
      text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement, isolated)
             select node, now(), '2026-01-01T00:00:00Z', 16000, $2, 100 * 2^30, 'rss-polling', true from unnest($1::text[]) node
             on conflict (node) do update set heartbeat_at = now()`,
    },
    [nodeNames, NODE_MEMORY],
  );

const count = async (name: string, text: string, values: unknown[] = []) => (await store.query<{ n: number }>({ name: `test.${name}`, text }, values))[0]!.n;

beforeAll(async () => {
  // A private environment: two replicas reconcile everything they see, and the node rows must be
  // exactly these five.
  env = await startTestEnvironment();
  clients = platformClients(env.apiserver.kubeconfigPath);
  const kc = clients.kubeConfig;
  store = new Store({ connectionString: env.postgres.databaseUrl, logger: createLogger({ level: 'silent' }) });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  await beatAll();
  heartbeats = setInterval(() => void beatAll().catch(() => {}), BEAT_MS);

  const core = kc.makeApiClient(CoreV1Api);
  await Promise.all(Array.from({ length: TENANTS }, async (_, t) => {
    await core.createNamespace({ body: { metadata: { name: namespaceOf(t) } } });
    await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: namespaceOf(t) }, spec: { namespaces: [namespaceOf(t)] } });
  }));
  await Promise.all(nodeNames.map((name) => clients.node.create({
    apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name },
    spec: { address: '127.0.0.1', capacity: { cpu: '16', memory: `${NODE_MEMORY / Mi}Mi`, disk: '100Gi' }, reserved: { memory: `${RESERVED_MEMORY / Mi}Mi` } },
  })));

  for (const name of ['r1', 'r2']) {
    const healthPort = await freePort();
    const logFile = join(env.dir, `${name}.log`);
    const args = [
      'run', '--kubeconfig', env.apiserver.kubeconfigPath, '--database-url', env.postgres.databaseUrl, '--replica', name,
      '--health-port', String(healthPort), '--heartbeat-ms', '250', '--member-ttl-ms', '2000', '--join-delay-ms', '750',
    ];
    replicas.push({ name, process: startTend(name, args, logFile), healthPort, logFile });
  }
  // Both replicas see two active members (their own view, not just the table), so neither
  // still believes it owns every App when the burst starts.
  await eventually(async () => {
    for (const r of replicas) {
      const metrics = await (await fetch(`http://127.0.0.1:${r.healthPort}/metrics`)).text();
      if (!/^tend_members_active 2$/m.test(metrics)) throw new Error(`${r.name} does not see 2 active members yet`);
    }
    return true;
  }, { what: 'both replicas active and aware of each other', timeoutMs: 60_000 });
  await eventually(async () => ((await count('ready_nodes', `select count(*)::int as n from platform.nodes where state = 'ready'`)) === NODES ? true : undefined), { what: `${NODES} node rows`, timeoutMs: 30_000 });
  await eventually(async () => ((await count('tenant_rows', 'select count(*)::int as n from platform.tenants')) === TENANTS ? true : undefined), { what: `${TENANTS} tenant rows`, timeoutMs: 30_000 });
}, 120_000);

afterAll(async () => {
  clearInterval(heartbeats);
  await Promise.all(replicas.map((r) => r.process.stop()));
  await store?.close();
  await env?.stop();
});

interface AppRow { app: string; instances: number }
const instancesPerApp = async () =>
  new Map((await store.query<AppRow>({ name: 'test.instances_per_app', text: 'select app, count(*)::int as instances from platform.instances group by app' })).map((r) => [r.app, r.instances]));

/** Instances a replica committed, from its "instances placed" log lines. */
function placedBy(logFile: string): number {
  let placed = 0;
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"instances placed"')) continue;
    placed += (JSON.parse(line) as { placed: string[] }).placed.length;
  }
  return placed;
}

describe('two controller replicas scheduling at once', () => {
  it('place 200 instances onto tight nodes without pushing any node past its allocatable memory', async () => {
    const created = await Promise.all(appKeys.map(({ namespace, name }) => clients.app.create({
      apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name, namespace },
      spec: { replicas: PER_APP, command: ['node', 'examples/hello-server.mjs'], resources: { memory: `${INSTANCE_MEMORY / Mi}Mi`, cpu: '100m' } },
    })));
    expect(created).toHaveLength(APPS);

    // Settled: every App has looked at the nodes since they filled, and says so — Scheduled is
    // True exactly for the Apps with all their instances.
    const apps = await eventually(async () => {
      const placed = await instancesPerApp();
      const { items } = await clients.app.list();
      const mine = items.filter((a) => a.metadata.namespace?.startsWith('race-'));
      if (mine.length !== APPS) throw new Error(`${mine.length} Apps listed`);
      for (const app of mine) {
        const n = placed.get(`${app.metadata.namespace}/${app.metadata.name}`) ?? 0;
        const scheduled = findCondition(app.status?.conditions, 'Scheduled');
        if (app.status?.replicas !== n || scheduled?.status !== (n >= PER_APP ? 'True' : 'False')) {
          throw new Error(`${app.metadata.namespace}/${app.metadata.name}: ${n} instances, status ${JSON.stringify({ replicas: app.status?.replicas, scheduled })}`);
        }
      }
      // Either nothing is left to place or no node has room for one more instance.
      const full = await count('full_nodes', `select count(*)::int as n from platform.nodes n
                                where n.allocatable_memory - coalesce((select sum(memory) from platform.instances i where i.node = n.name), 0) < $1`, [INSTANCE_MEMORY]);
      const waiting = mine.filter((a) => (placed.get(`${a.metadata.namespace}/${a.metadata.name}`) ?? 0) < PER_APP).length;
      if (full !== NODES && waiting > 0) throw new Error(`${NODES - full} nodes still have room and ${waiting} Apps wait for it`);
      return mine;
    }, { what: 'placement settled', timeoutMs: 40_000 });

    // The database's verdict: no node holds more than it offers.
    const overbooked = await store.query<{ node: string; allocated: string; allocatable: string }>({
      name: 'test.overbooked',
      text: `select n.name as node, sum(i.memory)::text as allocated, n.allocatable_memory::text as allocatable
             from platform.nodes n join platform.instances i on i.node = n.name
             group by n.name, n.allocatable_memory having sum(i.memory) > n.allocatable_memory order by n.name`,
    });
    expect(overbooked).toEqual([]);
    expect(await count('nodes_offering', 'select count(*)::int as n from platform.nodes where allocatable_memory = $1', [ALLOCATABLE])).toBe(NODES);
    // Every node full to the last instance, so exactly what fits was placed, and no App got more than it asked.
    const placed = await instancesPerApp();
    expect([...placed.values()].reduce((a, b) => a + b, 0)).toBe(FITS);
    expect([...placed.values()].filter((n) => n > PER_APP)).toEqual([]);

    const short = apps.filter((a) => (placed.get(`${a.metadata.namespace}/${a.metadata.name}`) ?? 0) < PER_APP);
    expect(short.length).toBeGreaterThanOrEqual(Math.ceil((APPS * PER_APP - FITS) / PER_APP));
    for (const app of short) {
      const scheduled = findCondition(app.status?.conditions, 'Scheduled');
      expect(scheduled, `${app.metadata.namespace}/${app.metadata.name}`).toMatchObject({ status: 'False', reason: 'Unschedulable' });
      expect(scheduled?.message).toContain('insufficient memory');
    }

    // Both replicas committed placements, and together exactly what the table holds.
    const byReplica = replicas.map((r) => placedBy(r.logFile));
    expect(byReplica.every((n) => n > 0), `placed by r1, r2: ${byReplica.join(', ')}`).toBe(true);
    expect(byReplica.reduce((a, b) => a + b, 0)).toBe(FITS);
  }, 60_000);
});
