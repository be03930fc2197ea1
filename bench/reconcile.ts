/**
 * `npm run bench:reconcile [-- --tenants N --steady-seconds S]`: how fast tend reconciles and how
 * evenly replicas share the work. For each mode and 1 and 3 replicas (separate processes, a fresh
 * etcd + kube-apiserver + PostgreSQL each run), creates N Tenants and prints changes reconciled per
 * second, p50/p99 apply→Ready, the share of keys each replica handled, the duplicate-reconcile
 * ratio, RSS per replica, and (3 replicas, plain) the writes during a steady-state window.
 *
 * Modes: `plain` (4 workers per replica; on this 2-core machine the API server, etcd and
 * PostgreSQL compete for the same cores) and `wait10` (each reconcile first waits 10 ms, as a real
 * one waits on a node, with one worker per replica: the mode where replicas add throughput).
 */
import { readFileSync } from 'node:fs';
import { cpuSeconds, rssMb } from './process-stats.js';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { resourceType } from '../api/resource-types.js';
import type { Tenant } from '../api/types/tenant.js';
import { createLogger, findCondition, Informer, KubeClient, Store } from '../framework/index.js';
import { REPO_ROOT, startTestEnvironment, type TestEnvironment } from '../test/env/environment.js';
import { freePort } from '../test/env/ports.js';
import { ServerProcess } from '../test/env/server-process.js';

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '2000' },
    'steady-seconds': { type: 'string', default: '60' },
    modes: { type: 'string', default: 'plain,wait10' },
  },
});
const N = Number(values.tenants);
const STEADY_MS = Number(values['steady-seconds']) * 1000;
const logger = createLogger({ level: 'silent' });

interface RunResult {
  readonly mode: string;
  readonly replicas: number;
  readonly changesPerSecond: number;
  readonly createPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly shares: number[];
  readonly duplicates: number;
  readonly runsPerKey: number;
  readonly rssMb: number[];
  /** CPU seconds used during the burst, by process. */
  readonly cpu: Record<string, number>;
  readonly steady?: { seconds: number; reconciles: number; apiWrites: number; rowWrites: number; heartbeats: number; journalWrites: number };
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

async function reconcileTotal(ports: number[]): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const m of text.matchAll(/^controller_runtime_reconcile_total\{controller="tenant",result="[a-z_]+"\} (\d+)$/gm)) total += Number(m[1]);
  }
  return total;
}

async function run(mode: 'plain' | 'wait10', replicas: number): Promise<RunResult> {
  const env: TestEnvironment = await startTestEnvironment();
  const kc = new KubeConfig();
  kc.loadFromFile(env.apiserver.kubeconfigPath);
  const client = new KubeClient<Tenant>(resourceType('Tenant'), kc);
  const store = new Store({ connectionString: env.postgres.databaseUrl, logger });
  const processes: ServerProcess[] = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < replicas; i++) {
      const healthPort = await freePort();
      ports.push(healthPort);
      const config = {
        kubeconfig: env.apiserver.kubeconfigPath,
        databaseUrl: env.postgres.databaseUrl,
        replica: `r${i + 1}`,
        delayMs: mode === 'wait10' ? 10 : 0,
        concurrency: mode === 'wait10' ? 1 : 16,
        countsFile: join(env.dir, `counts-r${i + 1}.json`),
        healthPort,
      };
      processes.push(ServerProcess.start({
        name: config.replica,
        command: process.execPath,
        args: ['--import', 'tsx', join(REPO_ROOT, 'bench/replica.ts'), JSON.stringify(config)],
        cwd: REPO_ROOT,
        logFile: join(env.dir, `${config.replica}.log`),
      }));
    }
    const activeMembers = { name: 'bench.active_members', text: 'select count(*)::int as n from tend.members where expires_at > now() and active_at <= now()' };
    await until('all replicas active', 60_000, async () => {
      const rows = await store.query<{ n: number }>(activeMembers).catch(() => [{ n: 0 }]);
      return rows[0]!.n === replicas ? true : undefined;
    });
    // Every replica's informers synced (an empty list) before the burst starts.
    await until('replicas ready', 60_000, async () => {
      const codes = await Promise.all(ports.map((p) => fetch(`http://127.0.0.1:${p}/readyz`).then((r) => r.status, () => 0)));
      return codes.every((c) => c === 200) ? true : undefined;
    });

    const createdAt = new Map<string, number>();
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
      ...Object.fromEntries(processes.map((p, i) => [`r${i + 1}`, p.pid!])),
    };
    // PostgreSQL's work happens in its backends (children of the postmaster): count them with it.
    const cpuOf = (name: string, pid: number) => cpuSeconds(pid, name === 'postgres');
    const cpuBefore = Object.fromEntries(Object.entries(servers).map(([name, pid]) => [name, cpuOf(name, pid)]));
    const benchCpuBefore = process.cpuUsage();
    const names = Array.from({ length: N }, (_, i) => `bench-${String(i).padStart(5, '0')}`);
    const queue = new PQueue({ concurrency: 32 });
    const started = performance.now();
    for (const name of names) {
      void queue.add(async () => {
        await client.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name }, spec: { namespaces: [`ns-${name}`] } });
        createdAt.set(name, performance.now());
      });
    }
    await queue.onIdle();
    const createdAll = performance.now();
    await until(`${N} tenants Ready`, 15 * 60_000, () => (readyAt.size === N ? true : undefined));
    const lastReady = Math.max(...readyAt.values());
    const latencies = names.map((n) => readyAt.get(n)! - createdAt.get(n)!).sort((a, b) => a - b);
    const rss = processes.map((p) => rssMb(p.pid!));
    const burstRuns = await reconcileTotal(ports);
    const benchCpu = process.cpuUsage(benchCpuBefore);
    const cpu = {
      ...Object.fromEntries(Object.entries(servers).map(([name, pid]) => [name, cpuOf(name, pid) - cpuBefore[name]!])),
      'bench (client)': (benchCpu.user + benchCpu.system) / 1e6,
    };

    let steady: RunResult['steady'];
    if (mode === 'plain' && replicas === 3 && STEADY_MS > 0) {
      const snapshot = async () => ({
        rvs: (await client.list()).items.map((t) => `${t.metadata.name}@${t.metadata.resourceVersion}`).sort().join(),
        rows: await store.query<{ name: string; xmin: string; writes: string }>({ name: 'bench.rows', text: 'select name, xmin::text as xmin, writes::text as writes from platform.tenants order by name' }),
        heartbeats: Number((await store.query<{ n: string }>({ name: 'bench.heartbeats', text: `select n_tup_upd::text as n from pg_stat_user_tables where schemaname = 'tend' and relname = 'members'` }))[0]?.n ?? 0),
        reconciles: await reconcileTotal(ports),
        journal: Number((await store.query<{ n: string }>({ name: 'bench.journal_head', text: 'select coalesce(max(id), 0)::text as n from tend.reconciles' }))[0]?.n ?? 0),
      });
      // Let the burst's last follow-up reconciles finish before measuring quiet.
      await sleep(3_000);
      const before = await snapshot();
      await sleep(STEADY_MS);
      const after = await snapshot();
      const rowsBefore = new Map(before.rows.map((r) => [r.name, `${r.xmin}/${r.writes}`]));
      steady = {
        seconds: STEADY_MS / 1000,
        reconciles: after.reconciles - before.reconciles,
        apiWrites: before.rvs === after.rvs ? 0 : after.rvs.split(',').filter((x) => !before.rvs.includes(x)).length,
        rowWrites: after.rows.filter((r) => rowsBefore.get(r.name) !== `${r.xmin}/${r.writes}`).length + Math.abs(after.rows.length - before.rows.length),
        heartbeats: after.heartbeats - before.heartbeats,
        journalWrites: after.journal - before.journal,
      };
    }
    stopWatch.abort();

    await Promise.all(processes.map((p) => p.stop(40_000)));
    const counts = processes.map((_, i) => JSON.parse(readFileSync(join(env.dir, `counts-r${i + 1}.json`), 'utf8')) as Record<string, number>);
    const keysOf = counts.map((c) => new Set(Object.keys(c)));
    const duplicateKeys = names.filter((n) => keysOf.filter((k) => k.has(n)).length > 1).length;
    return {
      mode,
      replicas,
      changesPerSecond: N / ((lastReady - started) / 1000),
      createPerSecond: N / ((createdAll - started) / 1000),
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      shares: keysOf.map((k) => names.filter((n) => k.has(n)).length / N),
      duplicates: duplicateKeys / N,
      runsPerKey: burstRuns / N,
      rssMb: rss,
      cpu,
      ...(steady ? { steady } : {}),
    };
  } finally {
    for (const p of processes) await p.stop(5_000);
    await store.close();
    await env.stop();
  }
}

const results: RunResult[] = [];
for (const mode of values.modes!.split(',') as ('plain' | 'wait10')[]) {
  for (const replicas of [1, 3]) {
    process.stderr.write(`bench: ${mode}, ${replicas} replica(s), ${N} tenants…\n`);
    results.push(await run(mode, replicas));
  }
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
console.log(`\nbench:reconcile — ${N} Tenants per run, node ${process.version}, ${new Date().toISOString()}\n`);
console.log('mode    replicas  changes/s  created/s  p50 apply→Ready  p99 apply→Ready  key share per replica      duplicates  runs/key  RSS per replica (MB)');
for (const r of results) {
  console.log(
    [
      r.mode.padEnd(7),
      String(r.replicas).padStart(8),
      r.changesPerSecond.toFixed(0).padStart(10),
      r.createPerSecond.toFixed(0).padStart(10),
      `${r.p50.toFixed(0)} ms`.padStart(16),
      `${r.p99.toFixed(0)} ms`.padStart(16),
      r.shares.map(pct).join(' / ').padEnd(26),
      pct(r.duplicates).padStart(10),
      r.runsPerKey.toFixed(2).padStart(9),
      r.rssMb.map((m) => m.toFixed(0)).join(' / ').padStart(22),
    ].join(' '),
  );
}
console.log('\nCPU seconds used during each burst, by process (postgres includes its backends):');
for (const r of results) {
  console.log(`  ${r.mode} × ${r.replicas}: ${Object.entries(r.cpu).map(([n, s]) => `${n} ${s.toFixed(1)}`).join(', ')}`);
}
for (const mode of ['plain', 'wait10']) {
  const [one, three] = [results.find((r) => r.mode === mode && r.replicas === 1), results.find((r) => r.mode === mode && r.replicas === 3)];
  if (one && three) console.log(`${mode}: 3 replicas give ${(three.changesPerSecond / one.changesPerSecond).toFixed(2)}× the throughput of 1`);
}
const steady = results.find((r) => r.steady)?.steady;
if (steady) {
  console.log(
    `steady state (3 replicas, ${steady.seconds} s, resync every 20 s): ${steady.reconciles} reconciles, ` +
      `${steady.apiWrites} API object writes, ${steady.rowWrites} tenant row writes, ${steady.journalWrites} journal entries; ` +
      `coordination: ${steady.heartbeats} membership heartbeats (one row update per replica per 500 ms)`,
  );
}
