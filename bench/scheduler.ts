/**
 * `npm run bench:scheduler [-- --mode pure|e2e --nodes N --apps N --per-app N …]`: how fast tend
 * places App instances.
 *
 * `pure` (default; 100 nodes, 1,000 apps × 10, `--repetitions 15`) times the scheduler alone
 * (reconcilers/scheduler.ts): one schedule() call placing apps × per-app instances of mixed sizes
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
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { schedule, type NodeView, type PlacementRequest, type PlacementStrategy, type ScheduleResult, type TenantBudget } from '../reconcilers/scheduler.js';
import { runEndToEnd } from './scheduler-e2e.js';
import { seededRandom } from '../framework/testing/index.js';

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


/**
 * Nodes of 128Gi / 32 cores (2Gi + 1Gi and 1 core held back, CPU × 4) with 0–20% already in use;
 * apps of 128Mi–2Gi (≈ 780Mi on average), so 1,000 × 10 instances fill about 60% of 100 nodes.
 * One app in ten selects a zone; tenants have quotas too large to bind, so the quota path is timed.
 */
function buildWorkload(options: BenchOptions, strategyOf: (app: number) => PlacementStrategy): Workload {
  const rand = seededRandom(20_260_101);
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
