/**
 * `npm run bench:reconcile [-- --tenants N --rate R --backlog M --steady-seconds S --modes plain,wait10 --profile]`:
 * tend's Tenant reconciles side by side with a controller-runtime controller doing the same work
 * (bench/reference: same SQL statements, same status, same finalizer unless
 * `--reference-finalizer false`). Each contender runs alone on a fresh etcd + kube-apiserver +
 * PostgreSQL, as separate processes; tend's figures are printed as ratios to the reference's.
 *
 * Phases of a `plain` run (16 workers per process):
 * 1. idle: the controller starts on an empty cluster; its RSS once caches synced.
 * 2. rate: N Tenants created at R per second; create→Ready p50/p99; per change: controller CPU,
 *    API-server CPU, API requests by verb and resource (the API server's apiserver_request_total,
 *    the bench's own creates taken out).
 * 3. steady: S seconds with nothing changing (resync every 20 s): writes must stay zero.
 * 4. backlog: the controller stops, M Tenants are created, the controller starts again: how fast
 *    it drains them (first→last Ready; pure reconcile throughput) and from its start.
 * A `wait10` run (each reconcile waits 10 ms first, as a real one waits on a node; 1 worker per
 * process) does only the backlog: the mode where replicas add throughput.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { resourceType } from '../api/resource-types.js';
import type { Tenant } from '../api/types/tenant.js';
import { createLogger, findCondition, frameworkMigrations, Informer, KubeClient, migrate, Store } from '../framework/index.js';
import { platformMigrations } from '../migrations/index.js';
import { REPO_ROOT, startTestEnvironment, type TestEnvironment } from '../test/env/environment.js';
import { freePort } from '../test/env/ports.js';
import { ServerProcess } from '../test/env/server-process.js';
import { cpuSeconds, currentRssMb, rssMb } from './process-stats.js';
import { referenceBinary } from './reference-binary.js';

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '100' },
    backlog: { type: 'string' },
    'steady-seconds': { type: 'string', default: '20' },
    modes: { type: 'string', default: 'plain,wait10' },
    replicas: { type: 'string', default: '1,3' },
    'reference-finalizer': { type: 'string', default: 'true' },
    /** Write a V8 CPU profile of tend's first replica per run into this folder (node --cpu-prof). */
    profile: { type: 'string' },
    /** Save each controller process's /metrics after the rate phase into this folder. */
    'metrics-dir': { type: 'string' },
  },
});
const N = Number(values.tenants);
const RATE = Number(values.rate);
const BACKLOG = Number(values.backlog ?? values.tenants);
const STEADY_MS = Number(values['steady-seconds']) * 1000;
const RESYNC_MS = 20_000;
const logger = createLogger({ level: 'silent' });

type Mode = 'plain' | 'wait10';
interface Contender {
  readonly kind: 'reference' | 'tend';
  readonly replicas: number;
  readonly mode: Mode;
}
const label = (c: Contender) => (c.kind === 'reference' ? 'controller-runtime' : `tend ×${c.replicas}`);

interface RunResult {
  readonly contender: Contender;
  readonly idleRssMb?: number[];
  readonly peakRssMb: number[];
  readonly rate?: {
    readonly createdPerSecond: number;
    readonly p50: number;
    readonly p99: number;
    readonly allReadyS: number;
    readonly cpu: Record<string, number>;
    readonly requests: Map<string, number>;
    readonly runsPerKey: number;
    readonly shares?: number[];
    readonly duplicates?: number;
  };
  readonly steady?: { seconds: number; reconciles: number; apiWrites: number; rowWrites: number; journalWrites: number };
  readonly backlog: {
    drainS: number;
    fromStartS: number;
    perSecond: number;
    cpu: Record<string, number>;
    /** Journal entries of the unchanged Tenants of the rate phase after the restart (plain). */
    restartJournal?: number;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`bench: ${what} not reached within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** A running contender: its processes and where they serve /metrics and /readyz. */
interface Running {
  readonly processes: ServerProcess[];
  readonly metricsPorts: number[];
  readonly healthPorts: number[];
  /** Per process, where it writes its runs per key at stop (tend only). */
  readonly countsFiles: string[];
}

async function startContender(c: Contender, env: TestEnvironment, phase: string, reference: string): Promise<Running> {
  const running: Running = { processes: [], metricsPorts: [], healthPorts: [], countsFiles: [] };
  for (let i = 0; i < c.replicas; i++) {
    const name = c.kind === 'reference' ? `reference-${phase}` : `r${i + 1}-${phase}`;
    const healthPort = await freePort();
    running.healthPorts.push(healthPort);
    if (c.kind === 'reference') {
      const metricsPort = await freePort();
      running.metricsPorts.push(metricsPort);
      running.processes.push(ServerProcess.start({
        name,
        command: reference,
        args: [
          `-kubeconfig=${env.apiserver.kubeconfigPath}`, `-database-url=${env.postgres.databaseUrl}`,
          `-concurrency=${c.mode === 'wait10' ? 1 : 16}`, `-delay-ms=${c.mode === 'wait10' ? 10 : 0}`, `-resync-ms=${RESYNC_MS}`,
          `-metrics-addr=127.0.0.1:${metricsPort}`, `-health-addr=127.0.0.1:${healthPort}`, `-finalizer=${values['reference-finalizer']}`,
        ],
        logFile: join(env.dir, `${name}.log`),
      }));
      continue;
    }
    running.metricsPorts.push(healthPort);
    const countsFile = join(env.dir, `counts-${name}.json`);
    running.countsFiles.push(countsFile);
    const config = {
      kubeconfig: env.apiserver.kubeconfigPath,
      databaseUrl: env.postgres.databaseUrl,
      replica: `r${i + 1}`,
      delayMs: c.mode === 'wait10' ? 10 : 0,
      concurrency: c.mode === 'wait10' ? 1 : 16,
      resyncMs: RESYNC_MS,
      countsFile,
      healthPort,
    };
    const profile = values.profile && i === 0 ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`, `--cpu-prof-name=${c.mode}-x${c.replicas}-${phase}.cpuprofile`] : [];
    running.processes.push(ServerProcess.start({
      name,
      command: process.execPath,
      args: [...profile, '--import', 'tsx', join(REPO_ROOT, 'bench/replica.ts'), JSON.stringify(config)],
      cwd: REPO_ROOT,
      logFile: join(env.dir, `${name}.log`),
    }));
  }
  return running;
}

async function whenReady(c: Contender, running: Running, store: Store): Promise<void> {
  if (c.kind === 'tend') {
    const activeMembers = { name: 'bench.active_members', text: 'select count(*)::int as n from tend.members where expires_at > now() and active_at <= now()' };
    await until('all replicas active', 60_000, async () => {
      const rows = await store.query<{ n: number }>(activeMembers).catch(() => [{ n: 0 }]);
      return rows[0]!.n === c.replicas ? true : undefined;
    });
  }
  await until(`${label(c)} ready`, 60_000, async () => {
    for (const p of running.processes) if (!p.running) throw new Error(`${p.options.name} exited:\n${p.tail()}`);
    const codes = await Promise.all(running.healthPorts.map((p) => fetch(`http://127.0.0.1:${p}/readyz`).then((r) => r.status, () => 0)));
    return codes.every((code) => code === 200) ? true : undefined;
  });
}

async function reconcileTotal(ports: readonly number[]): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const m of text.matchAll(/^controller_runtime_reconcile_total\{controller="tenant",result="[a-z_]+"\} (\d+)$/gm)) total += Number(m[1]);
  }
  return total;
}

/** apiserver_request_total summed by `VERB resource[/subresource]` (a 409 counted apart as well). */
async function apiRequests(kubeconfigPath: string): Promise<Map<string, number>> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const cluster = kc.getCurrentCluster()!;
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(`${cluster.server}/metrics`, {
      headers: { authorization: `Bearer ${kc.getCurrentUser()!.token}` },
      ca: Buffer.from(cluster.caData!, 'base64'),
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
  const counts = new Map<string, number>();
  const add = (key: string, n: number) => counts.set(key, (counts.get(key) ?? 0) + n);
  for (const m of text.matchAll(/^apiserver_request_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    const what = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    add(what, Number(m[2]));
    if (labels.code === '409') add(`${what} (409)`, Number(m[2]));
  }
  return counts;
}

function difference(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  return new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0));
}

async function run(c: Contender, reference: string): Promise<RunResult> {
  const env = await startTestEnvironment();
  const kc = new KubeConfig();
  kc.loadFromFile(env.apiserver.kubeconfigPath);
  const client = new KubeClient<Tenant>(resourceType('Tenant'), kc);
  const store = new Store({ connectionString: env.postgres.databaseUrl, logger });
  // The reference writes tend's tables: the same schema for both.
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  const readyAt = new Map<string, number>();
  const watcher = new Informer(client, { logger });
  watcher.onChange(({ object }) => {
    const name = object.metadata.name;
    if (!readyAt.has(name) && object.status?.observedGeneration === 1 && findCondition(object.status.conditions, 'Ready')?.status === 'True') {
      readyAt.set(name, performance.now());
    }
  });
  const stopWatch = new AbortController();
  watcher.start(stopWatch.signal);
  await watcher.synced();
  const servers: Record<string, number> = {
    'kube-apiserver': env.apiserver.process.pid!,
    etcd: env.etcd.process.pid!,
    ...(env.postgres.process ? { postgres: env.postgres.process.pid! } : {}),
  };
  // PostgreSQL's work happens in its backends (children of the postmaster): count them with it.
  const cpuOf = (running: Running) => {
    const all = { ...servers, controller: -1 };
    return Object.fromEntries(Object.keys(all).map((name) => [name, name === 'controller'
      ? running.processes.reduce((sum, p) => sum + cpuSeconds(p.pid!), 0)
      : cpuSeconds(servers[name]!, name === 'postgres')]));
  };
  const cpuSince = (running: Running, before: Record<string, number>) => {
    const now = cpuOf(running);
    return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - before[k]!]));
  };
  const create = (name: string) => client.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name }, spec: { namespaces: [`ns-${name}`] } });
  const peak: number[] = [];
  let running: Running | undefined;
  try {
    let idleRssMb: number[] | undefined;
    let rate: RunResult['rate'];
    let steady: RunResult['steady'];
    if (c.mode === 'plain') {
      running = await startContender(c, env, 'rate', reference);
      await whenReady(c, running, store);
      await sleep(2_000);
      idleRssMb = running.processes.map((p) => currentRssMb(p.pid!));

      const names = Array.from({ length: N }, (_, i) => `rate-${String(i).padStart(5, '0')}`);
      const createdAt = new Map<string, number>();
      const cpuBefore = cpuOf(running);
      const requestsBefore = await apiRequests(env.apiserver.kubeconfigPath);
      const runsBefore = await reconcileTotal(running.metricsPorts);
      const started = performance.now();
      // A fixed rate, whatever the server answers: both contenders face the same arrivals.
      const creates: Promise<unknown>[] = [];
      for (let i = 0; i < N; i++) {
        const wait = started + (i * 1000) / RATE - performance.now();
        if (wait > 0) await sleep(wait);
        const name = names[i]!;
        creates.push(create(name).then(() => createdAt.set(name, performance.now())));
      }
      await Promise.all(creates);
      const createdAll = performance.now();
      await until(`${N} tenants Ready`, 15 * 60_000, () => (names.every((n) => readyAt.has(n)) ? true : undefined));
      const lastReady = Math.max(...names.map((n) => readyAt.get(n)!));
      const latencies = names.map((n) => readyAt.get(n)! - createdAt.get(n)!).sort((a, b) => a - b);
      // Work the changes cause after Ready (a follow-up reconcile) counts with them.
      await sleep(2_000);
      const cpu = cpuSince(running, cpuBefore);
      const requests = difference(await apiRequests(env.apiserver.kubeconfigPath), requestsBefore);
      requests.set('POST tenants', (requests.get('POST tenants') ?? 0) - N);
      const runs = (await reconcileTotal(running.metricsPorts)) - runsBefore;
      if (values['metrics-dir']) {
        for (const [i, port] of running.metricsPorts.entries()) {
          writeFileSync(join(values['metrics-dir'], `${c.kind}-x${c.replicas}-${i + 1}.metrics.txt`), await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
        }
      }
      rate = { createdPerSecond: N / ((createdAll - started) / 1000), p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), allReadyS: (lastReady - started) / 1000, cpu, requests, runsPerKey: runs / N };

      if (STEADY_MS > 0) {
        const snapshot = async () => ({
          rvs: new Set((await client.list()).items.map((t) => `${t.metadata.name}@${t.metadata.resourceVersion}`)),
          rows: await store.query<{ name: string; version: string }>({ name: 'bench.rows', text: `select name, xmin::text || '/' || writes::text as version from platform.tenants` }),
          reconciles: await reconcileTotal(running!.metricsPorts),
          journal: Number((await store.query<{ n: string }>({ name: 'bench.journal_head', text: 'select coalesce(max(id), 0)::text as n from tend.reconciles' }))[0]?.n ?? 0),
        });
        const before = await snapshot();
        await sleep(STEADY_MS);
        const after = await snapshot();
        const rowsBefore = new Map(before.rows.map((r) => [r.name, r.version]));
        steady = {
          seconds: STEADY_MS / 1000,
          reconciles: after.reconciles - before.reconciles,
          apiWrites: [...after.rvs].filter((x) => !before.rvs.has(x)).length,
          rowWrites: after.rows.filter((r) => rowsBefore.get(r.name) !== r.version).length + Math.abs(after.rows.length - before.rows.length),
          journalWrites: after.journal - before.journal,
        };
      }
      peak.push(...running.processes.map((p) => rssMb(p.pid!)));
      await Promise.all(running.processes.map((p) => p.stop(40_000)));
      if (c.kind === 'tend') {
        const keysOf = running.countsFiles.map((f) => new Set(Object.keys(JSON.parse(readFileSync(f, 'utf8')) as Record<string, number>)));
        rate = {
          ...rate,
          shares: keysOf.map((k) => names.filter((n) => k.has(n)).length / N),
          duplicates: names.filter((n) => keysOf.filter((k) => k.has(n)).length > 1).length / N,
        };
      }
      running = undefined;
    }

    // Backlog: Tenants that exist before the controller starts.
    const backlog = Array.from({ length: BACKLOG }, (_, i) => `backlog-${String(i).padStart(5, '0')}`);
    const queue = new PQueue({ concurrency: 32 });
    for (const name of backlog) void queue.add(() => create(name));
    await queue.onIdle();
    const journalHead = async () => (await store.query<{ n: string }>({ name: 'bench.journal_head', text: 'select coalesce(max(id), 0)::text as n from tend.reconciles' }))[0]!.n;
    const headBefore = await journalHead();
    const startedAt = performance.now();
    running = await startContender(c, env, 'backlog', reference);
    const cpuBefore = cpuOf(running);
    await until(`${BACKLOG} backlog tenants Ready`, 15 * 60_000, () => {
      for (const p of running!.processes) if (!p.running) throw new Error(`${p.options.name} exited:\n${p.tail()}`);
      return backlog.every((n) => readyAt.has(n)) ? true : undefined;
    });
    const times = backlog.map((n) => readyAt.get(n)!);
    const [first, last] = [Math.min(...times), Math.max(...times)];
    const drainS = (last - first) / 1000;
    const cpu = cpuSince(running, cpuBefore);
    let restartJournal: number | undefined;
    if (c.mode === 'plain') {
      // The Tenants of the rate phase did not change: after the restart their reconciles must journal nothing.
      await until('every Tenant reconciled after the restart', 5 * 60_000, async () => ((await reconcileTotal(running!.metricsPorts)) >= N + BACKLOG ? true : undefined));
      await sleep(1_000);
      restartJournal = (await store.query<{ n: number }>({ name: 'bench.restart_journal', text: `select count(*)::int as n from tend.reconciles where id > $1 and key like 'rate-%'` }, [headBefore]))[0]!.n;
    }
    const backlogResult = { drainS, fromStartS: (last - startedAt) / 1000, perSecond: BACKLOG / drainS, cpu, ...(restartJournal !== undefined ? { restartJournal } : {}) };
    peak.push(...running.processes.map((p) => rssMb(p.pid!)));
    return {
      contender: c,
      ...(idleRssMb ? { idleRssMb } : {}),
      peakRssMb: peak,
      ...(rate ? { rate } : {}),
      ...(steady ? { steady } : {}),
      backlog: backlogResult,
    };
  } finally {
    stopWatch.abort();
    if (running) await Promise.all(running.processes.map((p) => p.stop(10_000)));
    await store.close();
    await env.stop();
  }
}

const reference = await referenceBinary((line) => process.stderr.write(`bench: ${line}\n`));
const results: RunResult[] = [];
for (const mode of values.modes!.split(',') as Mode[]) {
  const contenders: Contender[] = [
    { kind: 'reference', replicas: 1, mode },
    ...values.replicas!.split(',').map((r) => ({ kind: 'tend' as const, replicas: Number(r), mode })),
  ];
  for (const c of contenders) {
    process.stderr.write(`bench: ${mode}, ${label(c)}, ${N} tenants at ${RATE}/s, backlog ${BACKLOG}…\n`);
    results.push(await run(c, reference));
  }
}

// ---- the table: tend's figures as ratios to the reference measured in the same run ----
const fmt = (x: number | undefined, digits = 0) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const max = (xs: readonly number[] | undefined) => (xs && xs.length ? Math.max(...xs) : undefined);
console.log(`\nbench:reconcile — node ${process.version}, ${new Date().toISOString()}; ${N} Tenants at ${RATE}/s, backlog ${BACKLOG}; ` +
  `reference finalizer ${values['reference-finalizer']}; each cell: value (× controller-runtime)`);
for (const mode of values.modes!.split(',') as Mode[]) {
  const rows = results.filter((r) => r.contender.mode === mode);
  const ref = rows.find((r) => r.contender.kind === 'reference');
  if (!ref) continue;
  const columns = rows.map((r) => label(r.contender));
  const line = (name: string, value: (r: RunResult) => number | undefined, digits = 0) => {
    const cells = rows.map((r) => {
      const v = value(r);
      const base = value(ref);
      const ratio = r === ref || v === undefined || base === undefined || base === 0 ? '' : ` (${(v / base).toFixed(2)}×)`;
      return `${fmt(v, digits)}${ratio}`.padStart(22);
    });
    console.log(`${name.padEnd(44)}${cells.join('')}`);
  };
  console.log(`\n${mode}${' '.repeat(44 - mode.length)}${columns.map((c) => c.padStart(22)).join('')}`);
  if (mode === 'plain') {
    line('created per second', (r) => r.rate?.createdPerSecond);
    line('all Ready after (s)', (r) => r.rate?.allReadyS, 1);
    line('create→Ready p50 (ms)', (r) => r.rate?.p50);
    line('create→Ready p99 (ms)', (r) => r.rate?.p99);
    line('reconciles per Tenant', (r) => r.rate?.runsPerKey, 2);
    const verbs = [...new Set(rows.flatMap((r) => [...(r.rate?.requests.keys() ?? [])]))].sort();
    // The API server's own background requests over the phase round to nothing per Tenant.
    for (const verb of verbs.filter((v) => rows.some((r) => (r.rate?.requests.get(v) ?? 0) / N >= 0.01))) {
      line(`API requests per Tenant: ${verb}`, (r) => (r.rate?.requests.get(verb) ?? 0) / N, 3);
    }
    line('controller CPU per change (ms, sum)', (r) => (r.rate ? (r.rate.cpu.controller! * 1000) / N : undefined), 2);
    line('API-server CPU per change (ms)', (r) => (r.rate ? (r.rate.cpu['kube-apiserver']! * 1000) / N : undefined), 2);
    line('etcd CPU per change (ms)', (r) => (r.rate ? (r.rate.cpu.etcd! * 1000) / N : undefined), 2);
    line('PostgreSQL CPU per change (ms)', (r) => (r.rate?.cpu.postgres !== undefined ? (r.rate.cpu.postgres * 1000) / N : undefined), 2);
    line('idle RSS per process (MB, max)', (r) => max(r.idleRssMb));
    line('peak RSS per process (MB, max)', (r) => max(r.peakRssMb));
    line(`steady ${STEADY_MS / 1000} s: reconciles`, (r) => r.steady?.reconciles);
    line(`steady ${STEADY_MS / 1000} s: API object writes`, (r) => r.steady?.apiWrites);
    line(`steady ${STEADY_MS / 1000} s: tenant row writes`, (r) => r.steady?.rowWrites);
    line(`steady ${STEADY_MS / 1000} s: journal entries`, (r) => r.steady?.journalWrites);
  }
  line('backlog: first→last Ready (s)', (r) => r.backlog.drainS, 2);
  line('backlog: Tenants per second', (r) => r.backlog.perSecond);
  line('backlog: from controller start (s)', (r) => r.backlog.fromStartS, 2);
  line('backlog: controller CPU per change (ms)', (r) => (r.backlog.cpu.controller! * 1000) / BACKLOG, 2);
  line('backlog: API-server CPU per change (ms)', (r) => (r.backlog.cpu['kube-apiserver']! * 1000) / BACKLOG, 2);
  if (mode === 'plain') line(`restart: journal entries of ${N} unchanged`, (r) => r.backlog.restartJournal);
  for (const r of rows.filter((x) => x.rate?.shares)) {
    console.log(`${label(r.contender)}: key share per replica ${r.rate!.shares!.map((s) => `${(s * 100).toFixed(1)} %`).join(' / ')}, duplicates ${(r.rate!.duplicates! * 100).toFixed(1)} %`);
  }
  const tend = rows.filter((r) => r.contender.kind === 'tend');
  const one = tend.find((r) => r.contender.replicas === 1);
  for (const r of tend.filter((x) => x.contender.replicas > 1)) {
    if (one) console.log(`${mode}: tend ×${r.contender.replicas} drains the backlog at ${(r.backlog.perSecond / one.backlog.perSecond).toFixed(2)}× the rate of tend ×1`);
  }
}
