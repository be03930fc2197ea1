/**
 * The chaos run behind `npm run chaos` and its short version in the suite: real controller
 * replicas, node agents and edges (processes) on a real API server and PostgreSQL; a churn of Apps
 * created, scaled, rolled out and deleted; a fault every few seconds (kill -9 of a random replica,
 * agent or edge, restarted a moment later); invariants checked all the time in SQL and through the
 * edges, as etcd's robustness tests and Jepsen's checkers do. Faults stop, then everything must
 * converge. The summary is what the caller prints and asserts.
 */
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { resourceType } from '../../api/resource-types.js';
import type { App } from '../../api/types/app.js';
import type { Route } from '../../api/types/route.js';
import type { Volume } from '../../api/types/volume.js';
import { KubeClient } from '../../framework/client/index.js';
import { findCondition } from '../../framework/conditions/index.js';
import { createLogger } from '../../framework/log/logger.js';
import type { Key } from '../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../framework/store/index.js';
import { platformMigrations } from '../../migrations/index.js';
import { startTestEnvironment, type TestEnvironment } from './environment.js';
import { eventually } from './eventually.js';
import { send } from './http-request.js';
import { platformClients } from './platform-clients.js';
import { freePort } from './ports.js';
import type { ServerProcess } from './server-process.js';
import { startTend } from './tend-process.js';

export interface ChaosOptions {
  /** How long faults are injected. */
  readonly faultsMs: number;
  /** A fault every this long. @default 2_000 */
  readonly faultEveryMs?: number;
  /** Churn Apps alive at once, at most. */
  readonly liveApps: number;
  /** A churn operation every this long. @default 250 */
  readonly opEveryMs?: number;
  /** After the faults stop, everything must converge within this long. @default 60_000 */
  readonly settleMs?: number;
  /** Progress lines (the long run prints them). */
  readonly log?: (line: string) => void;
}

export interface ChaosSummary {
  readonly faults: Record<'replica' | 'agent' | 'edge', number>;
  readonly operations: Record<'create' | 'scale' | 'rollout' | 'delete', number>;
  readonly violations: { readonly overbooked: string[]; readonly overPlaced: string[]; readonly lost: string[]; readonly sharedVolume: string[] };
  /** Times the App holding the contended volume was deleted and made again, so the other took it over. */
  readonly handOvers: number;
  /** From an operation to its App converged (or gone), while faults ran; ms. */
  readonly convergenceMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly count: number };
  /** From the last fault to everything converged; ms. */
  readonly settledMs: number;
  readonly edge: { readonly served: number; readonly failed: number; readonly longestOutageMs: number };
  readonly checks: number;
  /** What happened when, for reading a failure: faults, and outages of a stable host over 2 s. */
  readonly timeline: readonly string[];
}

/** The documented failover time: the longest a stable App may be unavailable through the edges (`npm run chaos` checks it). */
export const FAILOVER_MS = 5_000;
/** After the last fault, everything converges within this long (`npm run chaos` checks it). */
export const SETTLE_TARGET_MS = 10_000;

const TENANTS = ['chaos-a', 'chaos-b', 'chaos-c'];
const NODES = ['c1', 'c2', 'c3'];
const REPLICAS = ['r1', 'r2', 'r3'];
// Lost after 3 missed: 6 s, longer than a killed agent takes to boot again on a loaded 2-core machine.
const NODE_HEARTBEAT_MS = 2_000;
// Two Apps mount this one volume: one of them at a time may run on it, and it changes hands.
const CONTENDED = { namespace: TENANTS[0]!, volume: 'contended', apps: ['writer-1', 'writer-2'] };
const HAND_OVER_EVERY_MS = 10_000;

/** Starts everything, runs the churn under faults, lets it settle, stops everything; the figures. */
export async function runChaos(options: ChaosOptions): Promise<ChaosSummary> {
  const log = options.log ?? (() => {});
  const env = await startTestEnvironment({ env: { ...process.env, DATABASE_URL: '' } });
  const cluster = new ChaosCluster(env);
  try {
    await cluster.start();
    log(`cluster up: ${REPLICAS.length} replicas, ${NODES.length} agents, 2 edges`);
    return await cluster.run(options, log);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${cluster.tails()}`, { cause: err });
  } finally {
    await cluster.stop();
    // TEND_CHAOS_KEEP=1 keeps every process's log (and the data) for reading afterwards.
    const keep = process.env.TEND_CHAOS_KEEP === '1';
    if (keep) log(`logs kept in ${env.dir}`);
    await env.stop({ keep });
  }
}

interface Tracked {
  replicas: number;
  /** Highest replicas asked for since the App last converged, and a few seconds after (a scale-down's stops lag behind it). */
  recentMax: number;
  /** When recentMax stops counting: Infinity until the App converges, then a few seconds more. */
  recentUntil: number;
  revision: number;
}

class ChaosCluster {
  private readonly clients;
  private readonly routes;
  private readonly store: Store;
  private readonly processes = new Map<string, ServerProcess>();
  private readonly starters = new Map<string, () => ServerProcess>();
  private edgePorts: number[] = [];
  private readonly apps = new Map<string, Tracked>();
  private readonly deleted = new Map<string, number>();
  private readonly pending = new Map<string, { since: number; generation?: number; gone?: boolean }>();
  private readonly convergence: number[] = [];
  private readonly violations = { overbooked: new Set<string>(), overPlaced: new Set<string>(), lost: new Set<string>(), sharedVolume: new Set<string>() };
  private readonly volumes;
  private checks = 0;
  private nextApp = 0;

  constructor(private readonly env: TestEnvironment) {
    this.clients = platformClients(env.apiserver.kubeconfigPath);
    this.routes = new KubeClient<Route>(resourceType('Route'), this.clients.kubeConfig);
    this.volumes = new KubeClient<Volume>(resourceType('Volume'), this.clients.kubeConfig);
    this.store = new Store({ connectionString: env.postgres.databaseUrl, logger: createLogger({ level: 'silent' }), poolSize: 4 });
  }

  async start(): Promise<void> {
    const { env, clients } = this;
    await migrate(this.store, { tracks: [frameworkMigrations, platformMigrations] });
    const core = clients.kubeConfig.makeApiClient(CoreV1Api);
    for (const tenant of TENANTS) {
      await core.createNamespace({ body: { metadata: { name: tenant } } });
      await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: tenant }, spec: { namespaces: [tenant], allowedHostnames: [`${tenant}.chaos.test`] } });
    }
    for (const node of NODES) {
      await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: node }, spec: { address: '127.0.0.1', capacity: { cpu: '8', memory: '6Gi', disk: '10Gi' } } });
      this.define(`agent-${node}`, () =>
        startTend(`agent-${node}`, ['agent', '--node', node, '--database-url', env.postgres.databaseUrl, '--state-dir', join(env.dir, `agent-${node}`), '--heartbeat-ms', String(NODE_HEARTBEAT_MS), '--poll-ms', '1000', '--crash-backoff-ms', '200', '--log-level', 'warn'], join(env.dir, `agent-${node}.log`)),
      );
    }
    for (const replica of REPLICAS) {
      this.define(replica, () =>
        startTend(replica, ['run', '--kubeconfig', env.apiserver.kubeconfigPath, '--database-url', env.postgres.databaseUrl, '--replica', replica, '--node-heartbeat-ms', String(NODE_HEARTBEAT_MS), '--heartbeat-ms', '500', '--member-ttl-ms', '3000', '--join-delay-ms', '500', '--log-level', 'warn'], join(env.dir, `${replica}.log`)),
      );
    }
    this.edgePorts = [await freePort(), await freePort()];
    this.edgePorts.forEach((port, i) =>
      this.define(`edge-${i + 1}`, () => startTend(`edge-${i + 1}`, ['edge', '--listen', `127.0.0.1:${port}`, '--database-url', env.postgres.databaseUrl, '--state-dir', join(env.dir, `edge-${i + 1}`), '--check-ms', '1000', '--log-level', 'warn'], join(env.dir, `edge-${i + 1}.log`))),
    );
    for (const [name, start] of this.starters) this.processes.set(name, start());

    // One stable App per tenant, routed: its requests through the edges must keep succeeding.
    for (const tenant of TENANTS) {
      await clients.app.create({
        apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'stable', namespace: tenant },
        spec: { replicas: 2, command: ['node', 'examples/hello-server.mjs'], resources: { memory: '64Mi', cpu: '50m' }, healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 }, placement: { strategy: 'spread' } },
      });
      await this.routes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name: 'stable', namespace: tenant }, spec: { host: `${tenant}.chaos.test`, app: 'stable' } });
    }
    await eventually(async () => {
      for (const tenant of TENANTS) if ((await this.request(`${tenant}.chaos.test`)) !== 200) throw new Error(`${tenant}.chaos.test does not answer yet`);
      return true;
    }, { what: 'the stable Apps answering through both edges', timeoutMs: 240_000 });
    await this.volumes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Volume', metadata: { name: CONTENDED.volume, namespace: CONTENDED.namespace }, spec: { size: '64Mi' } });
    for (const name of CONTENDED.apps) await clients.app.create(writerApp(name));
  }

  /** Deletes the App that holds the contended volume and makes it again: the other one takes the volume over. */
  private async handOver(): Promise<boolean> {
    const [claim] = await this.store.query<{ app: string }>({ name: 'chaos.contended_holder', text: `select app from platform.volume_claims where volume = $1` }, [`${CONTENDED.namespace}/${CONTENDED.volume}`]);
    if (!claim) return false;
    await this.clients.app.delete(claim.app as Key);
    const name = claim.app.split('/')[1]!;
    await eventually(async () => ((await this.clients.app.get(claim.app as Key)) === undefined ? true : undefined), { what: `${claim.app} deleted`, timeoutMs: 60_000 });
    await this.clients.app.create(writerApp(name));
    return true;
  }

  async run(options: ChaosOptions, log: (line: string) => void): Promise<ChaosSummary> {
    const faults = { replica: 0, agent: 0, edge: 0 };
    const operations = { create: 0, scale: 0, rollout: 0, delete: 0 };
    const traffic = { served: 0, failed: 0, longestOutageMs: 0 };
    const t0 = Date.now();
    const timeline: string[] = [];
    const at = (ms: number) => `${((ms - t0) / 1000).toFixed(1)}s`;
    let stopping = false;

    // Through the edges: each request goes to one edge and, if that fails, to the other (a client
    // or load balancer in front of several edges). An outage is a run of requests failing on both.
    const load = (async () => {
      const failingSince = new Map<string, number>();
      while (!stopping) {
        for (const tenant of TENANTS) {
          const host = `${tenant}.chaos.test`;
          const ok = (await this.request(host)) === 200;
          const now = Date.now();
          if (ok) {
            traffic.served++;
            const since = failingSince.get(host);
            if (since !== undefined) traffic.longestOutageMs = Math.max(traffic.longestOutageMs, now - since);
            if (since !== undefined && now - since > 2_000) timeline.push(`${at(since)} ${host} down for ${now - since} ms`);
            failingSince.delete(host);
          } else {
            traffic.failed++;
            if (!failingSince.has(host)) failingSince.set(host, now);
          }
        }
      }
      for (const since of failingSince.values()) traffic.longestOutageMs = Math.max(traffic.longestOutageMs, Date.now() - since);
    })();

    const checker = (async () => {
      while (!stopping) {
        await this.check().catch(() => {}); // PostgreSQL is never a fault here; a failed read is retried
        await pause(500);
      }
    })();

    const started = Date.now();
    let nextFault = started + (options.faultEveryMs ?? 2_000);
    let nextHandOver = started + HAND_OVER_EVERY_MS;
    let handOvers = 0;
    // In the background: a deletion waits for its finalizer, seconds under faults.
    let handingOver: Promise<void> = Promise.resolve();
    while (Date.now() - started < options.faultsMs) {
      await this.operate(options.liveApps, operations).catch((err: Error) => log(`operation failed (retried later): ${err.message}`));
      if (Date.now() >= nextHandOver) {
        nextHandOver = Number.POSITIVE_INFINITY;
        handingOver = this.handOver()
          .then((done) => { if (done) handOvers++; }, (err: Error) => log(`hand-over failed: ${err.message}`))
          .finally(() => { nextHandOver = Date.now() + HAND_OVER_EVERY_MS; });
      }
      if (Date.now() >= nextFault) {
        let kind = (['replica', 'agent', 'edge'] as const)[Math.floor(Math.random() * 3)]!;
        let names = [...this.processes.keys()].filter((n) => (kind === 'replica' ? REPLICAS.includes(n) : n.startsWith(`${kind}-`)));
        let victim = names[Math.floor(Math.random() * names.length)]!;
        // Kill an edge only while the other one serves: two edges down at once is an outage by
        // construction (a restarted edge takes seconds to boot on a loaded machine), not a finding.
        if (kind === 'edge' && !(await this.serves(this.edgePorts[victim === 'edge-1' ? 1 : 0]!))) {
          kind = 'agent';
          names = NODES.map((n) => `agent-${n}`);
          victim = names[Math.floor(Math.random() * names.length)]!;
        }
        faults[kind]++;
        timeline.push(`${at(Date.now())} kill -9 ${victim}`);
        await this.killAndRestart(victim, 300 + Math.floor(Math.random() * 1_200));
        nextFault = Date.now() + (options.faultEveryMs ?? 2_000);
        log(`fault: kill -9 ${victim} (${faults.replica + faults.agent + faults.edge} so far, ${this.pending.size} operations converging)`);
      }
      await pause(options.opEveryMs ?? 250);
    }
    await handingOver;
    const faultsEnded = Date.now();
    log('faults stopped; waiting for everything to converge');
    await eventually(async () => {
      await this.check();
      if (this.pending.size > 0) throw new Error(`${this.pending.size} operations not converged: ${[...this.pending.keys()].slice(0, 5).join(', ')}`);
      return true;
    }, { what: 'every App converged after the faults', timeoutMs: options.settleMs ?? 60_000 }).catch((err: Error) => {
      for (const key of this.pending.keys()) this.violations.lost.add(key);
      log(err.message);
    });
    const settledMs = Date.now() - faultsEnded;
    stopping = true;
    await Promise.all([load, checker]);

    const sorted = [...this.convergence].sort((a, b) => a - b);
    const quantile = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return {
      faults,
      operations,
      violations: { overbooked: [...this.violations.overbooked], overPlaced: [...this.violations.overPlaced], lost: [...this.violations.lost], sharedVolume: [...this.violations.sharedVolume] },
      handOvers,
      convergenceMs: { p50: quantile(0.5), p99: quantile(0.99), max: sorted.at(-1) ?? 0, count: sorted.length },
      settledMs,
      edge: traffic,
      checks: this.checks,
      timeline: timeline.sort((a, b) => parseFloat(a) - parseFloat(b)),
    };
  }

  async stop(): Promise<void> {
    await Promise.all([...this.processes.values()].map((p) => p.stop()));
    await this.store.close();
  }

  /** The last lines each process logged, for a failure's message. */
  tails(): string {
    return [...this.processes].map(([name, p]) => `── ${name} ──\n${p.tail()}`).join('\n');
  }

  private define(name: string, start: () => ServerProcess): void {
    this.starters.set(name, start);
  }

  private async killAndRestart(name: string, downMs: number): Promise<void> {
    const process = this.processes.get(name)!;
    await process.kill();
    await pause(downMs);
    this.processes.set(name, this.starters.get(name)!());
  }

  /** Whether the edge on `port` answers for every stable host. */
  private async serves(port: number): Promise<boolean> {
    for (const tenant of TENANTS) if ((await answer(port, `${tenant}.chaos.test`)) !== 200) return false;
    return true;
  }

  /** Status of one request to `host` through the first edge that answers; 0 when none did. */
  private async request(host: string): Promise<number> {
    for (const port of this.edgePorts) if ((await answer(port, host)) === 200) return 200;
    return 0;
  }

  /** One churn step: create, scale, roll out or delete an App. */
  private async operate(liveApps: number, counts: ChaosSummary['operations']): Promise<void> {
    const now = Date.now();
    const live = [...this.apps.keys()];
    const roll = Math.random();
    if (live.length < liveApps && (roll < 0.4 || live.length === 0)) {
      const tenant = TENANTS[this.nextApp % TENANTS.length]!;
      const key = `${tenant}/churn-${String(this.nextApp++).padStart(4, '0')}`;
      const replicas = 1 + Math.floor(Math.random() * 3);
      const created = await this.clients.app.create(churnApp(key, replicas, 0));
      this.apps.set(key, { replicas, recentMax: replicas, recentUntil: 0, revision: 0 });
      this.pending.set(key, { since: now, generation: created.metadata.generation ?? 1 });
      counts.create++;
      return;
    }
    const key = live[Math.floor(Math.random() * live.length)]!;
    const tracked = this.apps.get(key)!;
    if (roll < 0.6) {
      const replicas = Math.floor(Math.random() * 4);
      const app = await this.change(key, (spec) => ({ ...spec, replicas }));
      tracked.recentMax = Math.max(now < tracked.recentUntil ? tracked.recentMax : 0, tracked.replicas, replicas);
      tracked.recentUntil = Infinity;
      tracked.replicas = replicas;
      this.pending.set(key, { since: now, generation: app.metadata.generation! });
      counts.scale++;
    } else if (roll < 0.8) {
      tracked.revision++;
      const app = await this.change(key, (spec) => ({ ...spec, env: [{ name: 'REVISION', value: String(tracked.revision) }] }));
      tracked.recentMax = Math.max(now < tracked.recentUntil ? tracked.recentMax : 0, tracked.replicas);
      tracked.recentUntil = Infinity;
      this.pending.set(key, { since: now, generation: app.metadata.generation! });
      counts.rollout++;
    } else {
      await this.clients.app.delete(key as Key);
      this.apps.delete(key);
      this.deleted.set(key, now);
      this.pending.set(key, { since: now, gone: true });
      counts.delete++;
    }
  }

  private async change(key: string, edit: (spec: NonNullable<App['spec']>) => NonNullable<App['spec']>): Promise<App> {
    for (let attempt = 1; ; attempt++) {
      const current = (await this.clients.app.get(key as Key))!;
      try {
        return await this.clients.app.update({ ...current, spec: edit(current.spec!) });
      } catch (err) {
        if (attempt >= 5) throw err;
      }
    }
  }

  /** The invariants, from PostgreSQL and the API; and which pending operations have converged. */
  private async check(): Promise<void> {
    this.checks++;
    const overbooked = await this.store.query<{ node: string; allocated: string; allocatable: string }>({
      name: 'chaos.overbooked',
      text: `select n.name as node, sum(i.memory)::text as allocated, n.allocatable_memory::text as allocatable
             from platform.nodes n join platform.instances i on i.node = n.name
             group by n.name, n.allocatable_memory having sum(i.memory) > n.allocatable_memory`,
    });
    for (const o of overbooked) this.violations.overbooked.add(`${o.node}: ${o.allocated} > ${o.allocatable}`);

    // One writer: no volume with instances of two Apps not yet reported stopped (they may all write).
    const shared = await this.store.query<{ volume: string; apps: string }>({
      name: 'chaos.shared_volumes',
      text: `select e.v ->> 'volume' as volume, string_agg(distinct i.app, ', ' order by i.app) as apps
             from platform.instances i, jsonb_array_elements(coalesce(i.spec -> 'volumes', '[]'::jsonb)) as e(v)
             where i.phase is distinct from 'stopped'
             group by e.v ->> 'volume' having count(distinct i.app) > 1`,
    });
    for (const v of shared) this.violations.sharedVolume.add(`${v.volume}: ${v.apps}`);

    const running = new Map((await this.store.query<{ app: string; n: number }>({ name: 'chaos.running', text: `select app, count(*)::int as n from platform.instances where desired = 'running' group by app` })).map((r) => [r.app, r.n]));
    const now = Date.now();
    for (const [key, tracked] of this.apps) {
      // At most replicas + maxSurge (25%, rounded up) run, also mid-rollout.
      const ceiling = Math.max(tracked.replicas, now < tracked.recentUntil ? tracked.recentMax : 0);
      const allowed = ceiling + Math.ceil(ceiling * 0.25);
      const n = running.get(key) ?? 0;
      if (n > allowed) this.violations.overPlaced.add(`${key}: ${n} running, at most ${allowed}`);
    }

    const { items } = await this.clients.app.list();
    const byKey = new Map(items.map((a) => [`${a.metadata.namespace}/${a.metadata.name}`, a]));
    for (const [key, op] of this.pending) {
      const app = byKey.get(key);
      const converged = op.gone ? !app && !running.has(key) : app !== undefined && convergedAt(app, op.generation!);
      if (converged) {
        this.convergence.push(now - op.since);
        this.pending.delete(key);
        const tracked = this.apps.get(key);
        if (tracked && tracked.recentUntil === Infinity) tracked.recentUntil = now + 5_000;
      }
    }
  }
}

function convergedAt(app: App, generation: number): boolean {
  const status = app.status;
  if ((status?.observedGeneration ?? 0) < generation) return false;
  const replicas = app.spec?.replicas ?? 1;
  if (replicas === 0) return (status?.replicas ?? 0) === 0;
  return findCondition(status?.conditions, 'Ready')?.status === 'True' && status?.readyReplicas === replicas && status?.updatedReplicas === replicas && status?.replicas === replicas;
}

/** One of the Apps contending for the one volume: `sleep`, like the churn. */
function writerApp(name: string): App {
  return {
    apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name, namespace: CONTENDED.namespace },
    spec: { replicas: 1, command: ['sleep', '86400'], resources: { memory: '16Mi', cpu: '10m' }, volumes: [{ volume: CONTENDED.volume, mountPath: '/data' }] },
  };
}

function churnApp(key: string, replicas: number, revision: number): App {
  const [namespace, name] = key.split('/') as [string, string];
  // `sleep` is the cheapest process there is: the churn is about the control plane, not the work.
  return {
    apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name, namespace },
    spec: { replicas, command: ['sleep', '86400'], resources: { memory: '16Mi', cpu: '10m' }, env: [{ name: 'REVISION', value: String(revision) }] },
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The status of one request to `host` through the edge on `port`; 0 when it did not answer within 2 s. */
const answer = async (port: number, host: string): Promise<number> =>
  (await Promise.race([send(port, host, '/'), pause(2_000).then(() => undefined)]).catch(() => undefined))?.status ?? 0;

/** The summary as the table `npm run chaos` prints and docs/reliability.md keeps. */
export function chaosTable(s: ChaosSummary): string {
  const rows: [string, string][] = [
    ['faults injected (kill -9)', `${s.faults.replica + s.faults.agent + s.faults.edge}: ${s.faults.replica} replica, ${s.faults.agent} agent, ${s.faults.edge} edge`],
    ['churn operations', `${s.operations.create} create, ${s.operations.scale} scale, ${s.operations.rollout} rollout, ${s.operations.delete} delete`],
    ['invariant checks', String(s.checks)],
    ['violations: node over allocatable memory', String(s.violations.overbooked.length)],
    ['violations: more than replicas + maxSurge running', String(s.violations.overPlaced.length)],
    ['violations: App never converged', String(s.violations.lost.length)],
    ['violations: a volume with instances of two Apps', `${s.violations.sharedVolume.length} (over ${s.handOvers} hand-overs of a contended volume)`],
    ['convergence after an operation (p50 / p99 / max)', `${s.convergenceMs.p50} / ${s.convergenceMs.p99} / ${s.convergenceMs.max} ms over ${s.convergenceMs.count}`],
    ['everything converged after the last fault', `${s.settledMs} ms`],
    ['requests through the edges (served / failed)', `${s.edge.served} / ${s.edge.failed}`],
    ['longest outage of a stable host', `${s.edge.longestOutageMs} ms`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v} |`).join('\n');
}
