/**
 * `npm run bench:scheduler [-- --mode pure|e2e --nodes N --apps N --per-app N …]`: how fast tend
 * places App instances.
 *
 * `pure` (default; 100 nodes, 1,000 apps × 10, `--repetitions 15`) times the scheduler alone
 * (reconcilers/placement.ts): one schedule() call placing apps × per-app instances of mixed sizes
 * on the nodes, for binpack, spread and a mix of both, after a warm-up; it prints placements per
 * second (best and median of the repetitions) and checks that no node ended up overbooked and that
 * every instance was placed (the workload fits overall by construction). Nomad's C1M reached
 * 3,750 placements/s; the target here is 10,000.
 *
 * `e2e` (100 nodes, 100 apps × 100, `--replicas 3 --tenants 10 [--concurrency N] [--keep]`) runs
 * the whole path on a private etcd + kube-apiserver + PostgreSQL: simulated nodes (Node objects,
 * heartbeats written by the bench, no agents), `tend run` replicas as processes, then every App at
 * once (binpack, 128Mi–512Mi, ≈ 46 % of the memory). It prints the time from the first App created
 * to all instances committed in platform.instances (target < 30 s) and placements/s, then checks
 * in SQL that no node holds more than it offers, and shows where the time went: each replica's
 * reconciles and placement transactions, lock waits, queue depths, slow queries, CPU per process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { resourceType } from '../api/resource-types.js';
import type { App } from '../api/types/app.js';
import type { Node } from '../api/types/node.js';
import type { Tenant } from '../api/types/tenant.js';
import { KubeClient } from '../framework/client/index.js';
import { findCondition } from '../framework/conditions/index.js';
import { createLogger } from '../framework/log/logger.js';
import { Informer } from '../framework/source/informer.js';
import { Store, frameworkMigrationsFolder, migrate } from '../framework/store/index.js';
import { platformMigrationsFolder } from '../migrations/index.js';
import { DEFAULT_CLUSTER_CONFIG } from '../reconcilers/node.js';
import { schedule, type NodeView, type PlacementRequest, type PlacementStrategy, type ScheduleResult, type TenantBudget } from '../reconcilers/placement.js';
import { startTestEnvironment, type TestEnvironment } from '../test/env/environment.js';
import { freePort } from '../test/env/ports.js';
import type { ServerProcess } from '../test/env/server-process.js';
import { startTend } from '../test/env/tend-process.js';

const Mi = 1024 ** 2;
const Gi = 1024 ** 3;

interface BenchOptions {
  readonly nodes: number;
  readonly apps: number;
  readonly perApp: number;
  readonly repetitions: number;
}

interface Workload {
  readonly nodes: readonly NodeView[];
  readonly requests: readonly PlacementRequest[];
  readonly budgets: Readonly<Record<string, TenantBudget>>;
}

/** mulberry32: the workload is the same on every run, so figures compare across commits. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Nodes of 128Gi / 32 cores (2Gi + 1Gi and 1 core held back, CPU × 4) with 0–20% already in use;
 * apps of 128Mi–2Gi (≈ 780Mi on average), so 1,000 × 10 instances fill about 60% of 100 nodes.
 * One app in ten selects a zone; tenants have quotas too large to bind, so the quota path is timed.
 */
function buildWorkload(options: BenchOptions, strategyOf: (app: number) => PlacementStrategy): Workload {
  const rand = prng(20_260_101);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const zones = ['a', 'b', 'c'];
  // physical − reserved − safety buffer, and capacity × cpuOvercommitRatio − reserved, as reconcilers/node.ts computes them.
  const allocatableMemory = 128 * Gi - 2 * Gi - 1 * Gi;
  const allocatableCpu = 32_000 * 4 - 1_000;
  const nodes = Array.from({ length: options.nodes }, (_, i): NodeView => {
    const busy = rand() * 0.2;
    return {
      name: `node-${String(i).padStart(4, '0')}`,
      state: 'ready',
      labels: { zone: zones[i % zones.length]! },
      allocatableMemory,
      allocatableCpu,
      allocatedMemory: Math.floor((busy * allocatableMemory) / Mi) * Mi,
      allocatedCpu: Math.floor(busy * allocatableCpu),
    };
  });
  const tenants = Array.from({ length: 50 }, (_, i) => `tenant-${i}`);
  const budgets = Object.fromEntries(tenants.map((t) => [t, { memoryLimit: 1024 * 1024 * Gi, memoryUsed: 0, cpuLimit: 1e9, cpuUsed: 0 }]));
  const requests = Array.from({ length: options.apps }, (_, i): PlacementRequest => ({
    app: `ns-${i % 50}/app-${i}`,
    tenant: tenants[i % tenants.length]!,
    count: options.perApp,
    memory: pick([128, 256, 256, 512, 512, 1024, 2048]) * Mi,
    cpu: pick([100, 250, 500, 1_000, 2_000]),
    strategy: strategyOf(i),
    nodeSelector: i % 10 === 0 ? { zone: pick(zones) } : {},
    existingByNode: {},
  }));
  return { nodes, requests, budgets };
}

/** What is wrong with a result: overbooked nodes, placements outside a node selector. */
function verify(workload: Workload, result: ScheduleResult): string[] {
  const problems: string[] = [];
  const nodes = new Map(workload.nodes.map((n) => [n.name, { ...n }]));
  const requests = new Map(workload.requests.map((r) => [r.app, r]));
  for (const p of result.placements) {
    const node = nodes.get(p.node)!;
    const request = requests.get(p.app)!;
    node.allocatedMemory += request.memory;
    node.allocatedCpu += request.cpu;
    for (const [k, v] of Object.entries(request.nodeSelector ?? {})) {
      if (node.labels[k] !== v) problems.push(`${p.app} placed on ${p.node}, outside its node selector`);
    }
  }
  for (const n of nodes.values()) {
    if (n.allocatedMemory > n.allocatableMemory) problems.push(`${n.name} memory overbooked: ${n.allocatedMemory} > ${n.allocatableMemory}`);
    if (n.allocatedCpu > n.allocatableCpu) problems.push(`${n.name} cpu overbooked: ${n.allocatedCpu} > ${n.allocatableCpu}`);
  }
  return problems;
}

/** Times `repetitions` schedule() calls after a warm-up; returns placements per second, sorted. */
function measure(workload: Workload, repetitions: number): { rates: number[]; result: ScheduleResult } {
  let result = schedule(workload.requests, workload.nodes, workload.budgets);
  for (let i = 0; i < 3; i++) result = schedule(workload.requests, workload.nodes, workload.budgets);
  const rates: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    const start = performance.now();
    result = schedule(workload.requests, workload.nodes, workload.budgets);
    const seconds = (performance.now() - start) / 1000;
    rates.push(result.placements.length / seconds);
  }
  return { rates: rates.sort((a, b) => a - b), result };
}

const rate = (n: number) => Math.round(n).toLocaleString('en-US');

/** The pure scheduler, three strategy mixes; returns false when any result overbooks a node. */
function runPure(options: BenchOptions): boolean {
  const instances = options.apps * options.perApp;
  console.log(`scheduler, pure: ${options.nodes} nodes, ${options.apps} apps × ${options.perApp} = ${instances} instances, ${options.repetitions} repetitions`);
  const mixes: readonly (readonly [string, (app: number) => PlacementStrategy])[] = [
    ['binpack', () => 'binpack'],
    ['spread', () => 'spread'],
    ['mixed', (app) => (app % 2 ? 'spread' : 'binpack')],
  ];
  let ok = true;
  for (const [name, strategyOf] of mixes) {
    const workload = buildWorkload(options, strategyOf);
    const { rates, result } = measure(workload, options.repetitions);
    const problems = verify(workload, result);
    const best = rates[rates.length - 1]!;
    const median = rates[Math.floor(rates.length / 2)]!;
    const used = new Set(result.placements.map((p) => p.node)).size;
    const unplaced = instances - result.placements.length;
    const verdict = problems.length > 0 ? 'WRONG' : unplaced > 0 ? `nothing overbooked; ${unplaced} unplaced, the nodes are too few` : 'ok: nothing overbooked, all placed';
    console.log(
      `  ${name.padEnd(8)} best ${rate(best).padStart(11)} placements/s   median ${rate(median).padStart(11)}/s   ` +
        `(${((instances / median) * 1000).toFixed(1)} ms per call, ${used} nodes used) ${verdict}`,
    );
    for (const problem of problems.slice(0, 10)) console.log(`    ${problem}`);
    if (unplaced > 0) console.log(`    e.g. ${result.unplaced[0]?.message}`);
    ok &&= problems.length === 0;
  }
  return ok;
}

// ── end to end ────────────────────────────────────────────────────────────────────────────────

interface EndToEndOptions {
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
  const rand = prng(20_260_102);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  return Array.from({ length: options.apps }, (_, i) => ({
    namespace: `bench-${String(i % options.tenants).padStart(2, '0')}`,
    name: `app-${String(i).padStart(4, '0')}`,
    memory: pick([128, 256, 256, 512]) * Mi,
    cpu: pick([100, 250, 500]),
  }));
}

/** CPU seconds a process has used (user + system), from /proc; with `children`, its live child processes too. */
function cpuSeconds(pid: number, children = false): number {
  const stat = (p: number) => readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const own = (fields: string[]) => (Number(fields[11]) + Number(fields[12])) / 100;
  let total = own(stat(pid));
  if (children) {
    for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
      try {
        const fields = stat(Number(entry));
        if (Number(fields[1]) === pid) total += own(fields);
      } catch {
        // the process ended meanwhile
      }
    }
  }
  return total;
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
    await migrate(store, { folders: [frameworkMigrationsFolder, platformMigrationsFolder] });
    const nodeNames = Array.from({ length: options.nodes }, (_, i) => `node-${String(i).padStart(3, '0')}`);
    // What `tend agent` writes on each heartbeat, for every simulated node in one statement.
    const beat = () => store.query({
      name: 'bench.agents_beat',
      text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement)
             select node, now(), '2026-01-01T00:00:00Z', $2, $3, 1000 * 2^30, 'cgroup' from unnest($1::text[]) node
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
async function runEndToEnd(options: EndToEndOptions): Promise<boolean> {
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

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'pure' },
    nodes: { type: 'string' },
    apps: { type: 'string' },
    'per-app': { type: 'string' },
    repetitions: { type: 'string', default: '15' },
    replicas: { type: 'string', default: '3' },
    tenants: { type: 'string', default: '10' },
    concurrency: { type: 'string' },
    'timeout-seconds': { type: 'string', default: '180' },
    keep: { type: 'boolean', default: false },
  },
});
// The same flags, sized per mode: pure times one large call, e2e 10,000 instances through 3 replicas.
const sized = (flag: string | undefined, pure: number, e2e: number) => Number(flag ?? (values.mode === 'e2e' ? e2e : pure));
const options: BenchOptions = {
  nodes: sized(values.nodes, 100, 100),
  apps: sized(values.apps, 1000, 100),
  perApp: sized(values['per-app'], 10, 100),
  repetitions: Number(values.repetitions),
};
switch (values.mode) {
  case 'pure':
    process.exitCode = runPure(options) ? 0 : 1;
    break;
  case 'e2e':
    process.exitCode = (await runEndToEnd({
      ...options,
      replicas: Number(values.replicas),
      tenants: Number(values.tenants),
      concurrency: values.concurrency !== undefined ? Number(values.concurrency) : undefined,
      timeoutMs: Number(values['timeout-seconds']) * 1000,
      keep: values.keep!,
    })) ? 0 : 1;
    break;
  default:
    console.error(`bench:scheduler: --mode is pure or e2e, not ${values.mode}`);
    process.exitCode = 2;
}
