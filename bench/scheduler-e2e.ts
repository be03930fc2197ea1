/**
 * The end-to-end mode of `npm run bench:scheduler -- --mode e2e` (see bench/scheduler.ts): simulated
 * nodes, `tend run` replicas as processes on a private etcd + kube-apiserver + PostgreSQL, every App
 * at once; time to all instances committed, the overbooking check in SQL, and where the time went.
 */
import { seededRandom } from '../framework/testing/index.js';
import { cpuSeconds } from './process-stats.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { resourceType } from '../api/resource-types.js';
import type { App } from '../api/types/app.js';
import type { Node } from '../api/types/node.js';
import type { Tenant } from '../api/types/tenant.js';
import { createLogger, findCondition, frameworkMigrations, Informer, KubeClient, migrate, Store } from '../framework/index.js';
import { platformMigrations } from '../migrations/index.js';
import { DEFAULT_CLUSTER_CONFIG } from '../reconcilers/node.js';
import { startTestEnvironment, type TestEnvironment } from '../test/env/environment.js';
import { freePort } from '../test/env/ports.js';
import type { ServerProcess } from '../test/env/server-process.js';
import { startTend } from '../test/env/tend-process.js';

const Mi = 1024 ** 2;
const Gi = 1024 ** 3;

export interface EndToEndOptions {
  readonly nodes: number;
  readonly apps: number;
  readonly perApp: number;
  readonly replicas: number;
  readonly tenants: number;
  /** Workers per controller in each replica; absent: tend run's default (4). */
  readonly concurrency: number | undefined;
  readonly timeoutMs: number;
  /** Keep the environment's folder (server and replica logs) and print where it is. */
  readonly keep: boolean;
}

/** A simulated node: 64Gi / 32 cores with 1Gi and 1 core reserved; the bench writes its agent's heartbeats. */
const SIM_NODE = { memory: 64 * Gi, cpu: 32_000, reservedMemory: 1 * Gi, reservedCpu: 1_000 };

interface SimApp {
  readonly namespace: string;
  readonly name: string;
  readonly memory: number;
  readonly cpu: number;
}

/** Apps of 128Mi–512Mi (≈ 288Mi on average), binpack, spread over `tenants` tenants of one namespace each. */
function simApps(options: EndToEndOptions): SimApp[] {
  const rand = seededRandom(20_260_102);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  return Array.from({ length: options.apps }, (_, i) => ({
    namespace: `bench-${String(i % options.tenants).padStart(2, '0')}`,
    name: `app-${String(i).padStart(4, '0')}`,
    memory: pick([128, 256, 256, 512]) * Mi,
    cpu: pick([100, 250, 500]),
  }));
}

/** Σ of the Prometheus series `name` whose labels include `match`. */
function metric(text: string, name: string, match: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    const labels = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) total += Number(m[2]);
  }
  return total;
}

/** What a replica's log says it did: placement transactions, instances, slow queries, failed reconciles. */
function readReplicaLog(file: string) {
  const facts = { txs: 0, placed: 0, slow: new Map<string, { n: number; maxMs: number }>(), failures: new Map<string, number>() };
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { msg?: string; placed?: string[]; query?: string; durationMs?: number; err?: string; controller?: string };
    if (entry.msg === 'instances placed') {
      facts.txs++;
      facts.placed += entry.placed?.length ?? 0;
    } else if (entry.msg === 'slow query') {
      const s = facts.slow.get(entry.query!) ?? { n: 0, maxMs: 0 };
      facts.slow.set(entry.query!, { n: s.n + 1, maxMs: Math.max(s.maxMs, entry.durationMs ?? 0) });
    } else if (entry.msg?.startsWith('reconcile failed')) {
      const why = `${entry.controller}: ${(entry.err ?? '').replace(/\b[a-z0-9-]+\/[a-z0-9-]+\b/g, 'NS/APP').slice(0, 120)}`;
      facts.failures.set(why, (facts.failures.get(why) ?? 0) + 1);
    }
  }
  return facts;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`bench:scheduler: ${what} not reached within ${timeoutMs} ms`);
    await sleep(100);
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const count = (n: number) => n.toLocaleString('en-US');
const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** A private control plane: servers, simulated nodes, tenants and running replicas. */
interface Cluster {
  readonly env: TestEnvironment;
  readonly store: Store;
  readonly clients: { readonly app: KubeClient<App>; readonly node: KubeClient<Node>; readonly tenant: KubeClient<Tenant> };
  readonly replicas: readonly { readonly name: string; readonly process: ServerProcess; readonly port: number; readonly logFile: string }[];
  one(name: string, text: string, values?: readonly unknown[]): Promise<number>;
  stop(): Promise<void>;
}

const silent = createLogger({ level: 'silent' });
const scrape = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

/** Starts the servers, the simulated nodes (heartbeating every second), the tenants and the replicas; resolves once all are ready. */
async function startCluster(options: EndToEndOptions, namespaces: readonly string[]): Promise<Cluster> {
  const env = await startTestEnvironment();
  const kc = new KubeConfig();
  kc.loadFromFile(env.apiserver.kubeconfigPath);
  const clients = { app: new KubeClient<App>(resourceType('App'), kc), node: new KubeClient<Node>(resourceType('Node'), kc), tenant: new KubeClient<Tenant>(resourceType('Tenant'), kc) };
  const store = new Store({ connectionString: env.postgres.databaseUrl, logger: silent });
  const replicas: Cluster['replicas'][number][] = [];
  let heartbeats: NodeJS.Timeout | undefined;
  const cluster: Cluster = {
    env, store, clients, replicas,
    one: async (name, text, values = []) => (await store.query<{ n: number }>({ name: `bench.${name}`, text }, values))[0]!.n,
    async stop() {
      clearInterval(heartbeats);
      await Promise.all(replicas.map((r) => r.process.stop()));
      await store.close();
      await env.stop({ keep: options.keep });
      if (options.keep) console.log(`  servers' and replicas' logs kept in ${env.dir}`);
    },
  };
  try {
    await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
    const nodeNames = Array.from({ length: options.nodes }, (_, i) => `node-${String(i).padStart(3, '0')}`);
    // What `tend agent` writes on each heartbeat, for every simulated node in one statement.
    const beat = () => store.query({
      name: 'bench.agents_beat',
      text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement, isolated)
             select node, now(), '2026-01-01T00:00:00Z', $2, $3, 1000 * 2^30, 'cgroup', true from unnest($1::text[]) node
             on conflict (node) do update set heartbeat_at = now()`,
    }, [nodeNames, SIM_NODE.cpu, SIM_NODE.memory]);
    await beat();
    heartbeats = setInterval(() => void beat().catch(() => {}), 1_000);

    const setup = new PQueue({ concurrency: 16 });
    const core = kc.makeApiClient(CoreV1Api);
    for (const ns of namespaces) {
      void setup.add(async () => {
        await core.createNamespace({ body: { metadata: { name: ns } } });
        await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: ns }, spec: { namespaces: [ns] } });
      });
    }
    for (const name of nodeNames) {
      void setup.add(() => clients.node.create({
        apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name },
        spec: { address: '127.0.0.1', capacity: { cpu: `${SIM_NODE.cpu}m`, memory: `${SIM_NODE.memory / Mi}Mi`, disk: '1000Gi' }, reserved: { cpu: `${SIM_NODE.reservedCpu}m`, memory: `${SIM_NODE.reservedMemory / Mi}Mi` } },
      }));
    }
    await setup.onIdle();

    for (let i = 1; i <= options.replicas; i++) {
      const name = `r${i}`;
      const port = await freePort();
      const logFile = join(env.dir, `${name}.log`);
      const args = [
        'run', '--kubeconfig', env.apiserver.kubeconfigPath, '--database-url', env.postgres.databaseUrl, '--replica', name, '--health-port', String(port),
        '--heartbeat-ms', '500', '--member-ttl-ms', '3000', '--join-delay-ms', '1000',
        ...(options.concurrency !== undefined ? ['--concurrency', String(options.concurrency)] : []),
      ];
      replicas.push({ name, process: startTend(name, args, logFile), port, logFile });
    }
    // Every replica sees all of them active, so the burst is split from its first key.
    await until('replicas active and aware of each other', 90_000, async () =>
      (await Promise.all(replicas.map(async (r) => metric(await scrape(r.port), 'tend_members_active') === options.replicas))).every(Boolean));
    await until('replicas ready', 60_000, async () => (await Promise.all(replicas.map(async (r) => (await fetch(`http://127.0.0.1:${r.port}/readyz`)).status === 200))).every(Boolean));
    await until(`${options.nodes} ready node rows`, 60_000, async () => (await cluster.one('ready_nodes', `select count(*)::int as n from platform.nodes where state = 'ready'`)) === options.nodes);
    await until(`${namespaces.length} tenant rows`, 60_000, async () => (await cluster.one('tenant_rows', 'select count(*)::int as n from platform.tenants')) === namespaces.length);
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

interface Burst {
  /** ms since the first App's create was sent: all created, first and last instance committed (0: never). */
  readonly createdAll: number;
  readonly firstAt: number;
  readonly allAt: number;
  /** All Apps reporting every instance placed (Scheduled=True), if they did within 30 s of the last commit. */
  readonly statusAt: number | undefined;
  readonly timeline: readonly { readonly t: number; readonly placed: number }[];
  readonly samples: readonly { readonly lockWaits: number; readonly appDepth: number }[];
  readonly cpu: Readonly<Record<string, number>>;
  readonly writes: { app: number; node: number };
}

/** Creates every App at once and follows the instances into platform.instances until all are there (or progress stalls). */
async function burst(cluster: Cluster, options: EndToEndOptions, apps: readonly SimApp[]): Promise<Burst> {
  const { env, clients, replicas } = cluster;
  const total = options.apps * options.perApp;
  const stopWatch = new AbortController();
  try {
    // Apps reporting all their instances placed, and the API writes the controllers make meanwhile
    // (App finalizer and status, Node status): they share the two cores with the placements.
    const scheduledAt = new Map<string, number>();
    const writes = { app: 0, node: 0 };
    let counting = false;
    const appWatch = new Informer(clients.app, { logger: silent });
    appWatch.onChange(({ type, object }) => {
      if (type === 'updated' && counting) writes.app++;
      const key = `${object.metadata.namespace}/${object.metadata.name}`;
      if (!scheduledAt.has(key) && object.status?.replicas === options.perApp && findCondition(object.status.conditions, 'Scheduled')?.status === 'True') scheduledAt.set(key, performance.now());
    });
    const nodeWatch = new Informer(clients.node, { logger: silent });
    nodeWatch.onChange(({ type }) => void (type === 'updated' && counting && writes.node++));
    appWatch.start(stopWatch.signal);
    nodeWatch.start(stopWatch.signal);
    await Promise.all([appWatch.synced(), nodeWatch.synced()]);

    const pids: Record<string, number> = {
      'kube-apiserver': env.apiserver.process.pid!,
      etcd: env.etcd.process.pid!,
      ...(env.postgres.process ? { postgres: env.postgres.process.pid! } : {}),
      ...Object.fromEntries(replicas.map((r) => [r.name, r.process.pid!])),
    };
    // PostgreSQL's work happens in its backends (children of the postmaster): count them with it.
    const cpuOf = (name: string, pid: number) => cpuSeconds(pid, name === 'postgres');
    const cpuBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuOf(name, pid)]));
    const benchCpuBefore = process.cpuUsage();

    // The clock starts as the first create is sent; 16 creates in flight.
    const started = performance.now();
    counting = true;
    let createdAll = 0;
    const creates = new PQueue({ concurrency: 16 });
    for (const a of apps) {
      void creates.add(() => clients.app.create({
        apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: a.name, namespace: a.namespace },
        spec: { replicas: options.perApp, command: ['node', 'examples/hello-server.mjs'], resources: { memory: `${a.memory / Mi}Mi`, cpu: `${a.cpu}m` } },
      }));
    }
    void creates.onIdle().then(() => (createdAll = performance.now() - started));

    // Every 100 ms the instances committed; every 500 ms the lock waits and the replicas' app queues.
    const timeline: { t: number; placed: number }[] = [];
    const samples: { lockWaits: number; appDepth: number }[] = [];
    let firstAt = 0;
    let allAt = 0;
    for (let i = 0; ; i++) {
      const placed = await cluster.one('placed', 'select count(*)::int as n from platform.instances');
      const t = performance.now() - started;
      if (placed > 0 && !firstAt) firstAt = t;
      timeline.push({ t, placed });
      if (placed >= total) {
        allAt = t;
        break;
      }
      if (i % 5 === 0) {
        const lockWaits = await cluster.one('lock_waits', `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and application_name like 'tend %'`);
        const texts = await Promise.all(replicas.map((r) => scrape(r.port).catch(() => '')));
        samples.push({ lockWaits, appDepth: texts.reduce((sum, m) => sum + metric(m, 'workqueue_depth', { controller: 'app' }), 0) });
      }
      const before = timeline.find((p) => p.t >= t - 20_000);
      if (t > options.timeoutMs || (t > 30_000 && before?.placed === placed)) break;
      await sleep(100);
    }
    counting = false;
    const benchCpu = process.cpuUsage(benchCpuBefore);
    const cpu = {
      ...Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuOf(name, pid) - cpuBefore[name]!])),
      bench: (benchCpu.user + benchCpu.system) / 1e6,
    };
    await until('every App reporting its instances placed', 30_000, async () => scheduledAt.size === options.apps).catch(() => {});
    const statusAt = scheduledAt.size === options.apps ? Math.max(...scheduledAt.values()) - started : undefined;
    return { createdAll, firstAt, allAt, statusAt, timeline, samples, cpu, writes };
  } finally {
    stopWatch.abort();
  }
}

/**
 * Simulated nodes (Node objects + heartbeats written here, no agents), `replicas` `tend run`
 * processes, then every App at once; prints how fast the instances reached platform.instances,
 * the database's verdict on overbooking, and where the time went. False when anything is wrong or unplaced.
 */
export async function runEndToEnd(options: EndToEndOptions): Promise<boolean> {
  const apps = simApps(options);
  const total = options.apps * options.perApp;
  const allocatable = SIM_NODE.memory - SIM_NODE.reservedMemory - DEFAULT_CLUSTER_CONFIG.memorySafetyBuffer;
  const demand = apps.reduce((sum, a) => sum + a.memory * options.perApp, 0);
  console.log(
    `scheduler, end to end: ${options.nodes} nodes, ${options.replicas} × tend run (${options.concurrency ?? 4} workers per controller), ${options.tenants} tenants, ` +
      `${options.apps} apps × ${options.perApp} = ${count(total)} instances (${((demand / (allocatable * options.nodes)) * 100).toFixed(0)} % of allocatable memory)`,
  );
  const cluster = await startCluster(options, [...new Set(apps.map((a) => a.namespace))]);
  try {
    const b = await burst(cluster, options, apps);
    const { one, replicas, store } = cluster;
    // The database's verdict.
    const overbooked = await store.query<{ node: string; allocated: number; allocatable: number }>({
      name: 'bench.overbooked',
      text: `select n.name as node, sum(i.memory)::float8 as allocated, n.allocatable_memory::float8 as allocatable
             from platform.nodes n join platform.instances i on i.node = n.name
             group by n.name, n.allocatable_memory, n.allocatable_cpu having sum(i.memory) > n.allocatable_memory or sum(i.cpu) > n.allocatable_cpu order by n.name`,
    });
    const overPlaced = await one('over_placed', 'select count(*)::int as n from (select app from platform.instances group by app having count(*) > $1) a', [options.perApp]);
    const [use] = await store.query<{ nodes: number; fullest: number | null }>({
      name: 'bench.node_use',
      text: `select count(*)::int as nodes, max(u.used::float8 / n.allocatable_memory) as fullest
             from (select node, sum(memory) as used from platform.instances group by node) u join platform.nodes n on n.name = u.node`,
    });
    const texts = await Promise.all(replicas.map((r) => scrape(r.port)));
    const logs = replicas.map((r) => readReplicaLog(r.logFile));

    const perSecond = (n: number, ms: number) => `${count(Math.round(n / (ms / 1000)))} placements/s`;
    const last = b.timeline.at(-1)!;
    console.log(`  apps created in ${seconds(b.createdAll || last.t)} (16 creates in flight)`);
    console.log(`  first instance committed   ${seconds(b.firstAt)} after the first App was created`);
    console.log(
      b.allAt
        ? `  all ${count(total)} committed    ${seconds(b.allAt)} (target < 30 s: ${b.allAt < 30_000 ? 'met' : 'MISSED'}): ${perSecond(total, b.allAt)} end to end, ${perSecond(total, b.allAt - b.firstAt)} from the first commit`
        : `  NOT all committed: ${count(last.placed)} of ${count(total)} after ${seconds(last.t)}`,
    );
    console.log(`  all Apps Scheduled=True    ${b.statusAt !== undefined ? seconds(b.statusAt) : 'not within 30 s of the last commit'} (their status, as a watch sees it)`);
    const marks = [];
    for (let s = 1; s * 1000 < last.t + 1000; s++) marks.push(`${s}s ${count([...b.timeline].reverse().find((p) => p.t <= s * 1000)?.placed ?? 0)}`);
    console.log(`  committed by: ${marks.join(' · ')}`);
    console.log(
      overbooked.length === 0
        ? `  database: no node overbooked (${use!.nodes} nodes used, the fullest at ${((use!.fullest ?? 0) * 100).toFixed(1)} % of its allocatable memory); ${overPlaced === 0 ? 'no App over-placed' : `${overPlaced} Apps OVER-PLACED`}`
        : `  database: ${overbooked.length} NODES OVERBOOKED, e.g. ${overbooked.slice(0, 4).map((o) => `${o.node} ${Math.round(o.allocated / Mi)}Mi > ${Math.round(o.allocatable / Mi)}Mi`).join(', ')}; ${overPlaced} Apps over-placed`,
    );
    for (const [i, r] of replicas.entries()) {
      const m = texts[i]!;
      const meanMs = (family: string, controller: string) => (metric(m, `${family}_sum`, { controller }) / Math.max(1, metric(m, `${family}_count`, { controller }))) * 1000;
      const l = logs[i]!;
      console.log(
        `  ${r.name}: ${count(l.placed)} instances in ${l.txs} placement transactions; app controller ${metric(m, 'controller_runtime_reconcile_total', { controller: 'app' })} reconciles ` +
          `(${metric(m, 'controller_runtime_reconcile_errors_total', { controller: 'app' })} failed), mean ${meanMs('controller_runtime_reconcile_time_seconds', 'app').toFixed(0)} ms, ` +
          `queued ${meanMs('workqueue_queue_duration_seconds', 'app').toFixed(0)} ms; node controller ${metric(m, 'controller_runtime_reconcile_total', { controller: 'node' })} reconciles, mean ${meanMs('controller_runtime_reconcile_time_seconds', 'node').toFixed(0)} ms`,
      );
      for (const [why, n] of l.failures) console.log(`      ${n} × ${why}`);
    }
    const slow = new Map<string, { n: number; maxMs: number }>();
    for (const l of logs) for (const [q, s] of l.slow) slow.set(q, { n: (slow.get(q)?.n ?? 0) + s.n, maxMs: Math.max(slow.get(q)?.maxMs ?? 0, s.maxMs) });
    console.log(
      `  sampled every 0.5 s: backends waiting on a lock mean ${mean(b.samples.map((s) => s.lockWaits)).toFixed(1)}, max ${Math.max(0, ...b.samples.map((s) => s.lockWaits))}; ` +
        `app queue depth (summed over replicas, unowned keys included) mean ${mean(b.samples.map((s) => s.appDepth)).toFixed(0)}, max ${Math.max(0, ...b.samples.map((s) => s.appDepth))}`,
    );
    console.log(`  slow queries (> 200 ms): ${slow.size === 0 ? 'none' : [...slow].sort((x, y) => y[1].n - x[1].n).map(([q, s]) => `${q} × ${s.n} (max ${s.maxMs} ms)`).join(', ')}`);
    console.log(`  CPU seconds until the last commit: ${Object.entries(b.cpu).map(([n, s]) => `${n} ${s.toFixed(1)}`).join(', ')}`);
    console.log(`  API writes until the last commit: ${count(b.writes.app)} App updates (finalizer, status), ${count(b.writes.node)} Node status updates`);
    return b.allAt > 0 && overbooked.length === 0 && overPlaced === 0;
  } finally {
    await cluster.stop();
  }
}

