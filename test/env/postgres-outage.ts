/**
 * The PostgreSQL outage run (issue 14 §3, "the control plane can be down; traffic cannot"), used by
 * its test (short settings, seconds) and by `npm run bench:outage` (2 minutes, the defaults).
 * Real processes — a `tend run` replica, three `tend agent`s, two `tend edge`s — on a real API
 * server and a PostgreSQL of their own, which is stopped for longer than a node takes to be lost
 * and its instances to be given up. Measured, for the caller to assert or print:
 * - every request through edge 1 from before the stop until everything settled after it;
 * - edge 2, killed and started again during the outage: what it serves (its snapshot), and whether
 *   it ever sent a request to the instance that was unhealthy when the snapshot was written;
 * - health checks of every instance while PostgreSQL is down (the agents keep checking);
 * - instance rows and the processes listening on their ports, before and after (nothing stopped or
 *   replaced), and the Alive condition of the two nodes whose agents kept running;
 * - n3, whose agent is killed during the outage: it must be judged lost after PostgreSQL is back
 *   (its heartbeats stopped while the others' did not) and its canary instance given up — which
 *   also shows that the window in which a wrong verdict on n1 or n2 would have acted has passed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { RoutingSnapshot } from '../../agents/edge/index.js';
import { resourceType } from '../../api/resource-types.js';
import type { App } from '../../api/types/app.js';
import type { Route } from '../../api/types/route.js';
import { KubeClient } from '../../framework/client/index.js';
import { findCondition, type Condition } from '../../framework/conditions/index.js';
import { createLogger } from '../../framework/log/logger.js';
import type { Key } from '../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../framework/store/index.js';
import { platformMigrations } from '../../migrations/index.js';
import { REPO_ROOT, startTestEnvironment, type TestEnvironment } from './environment.js';
import { eventually } from './eventually.js';
import { metric, send } from './http-request.js';
import { listeningProcess, type ProcessIdentity } from './listening-process.js';
import { platformClients } from './platform-clients.js';
import { freePort } from './ports.js';
import { waitForServer, type ServerProcess } from './server-process.js';
import { startTend } from './tend-process.js';
import { updateSpec } from './update-spec.js';

export interface OutageOptions {
  /** How long PostgreSQL stays down. */
  readonly outageMs: number;
  /** Agents' heartbeat period; a node is lost after 3 missed. @default 5_000 (tend's default) */
  readonly nodeHeartbeatMs?: number;
  /** A lost node's instances are given up after this. @default 30_000 (tend's default) */
  readonly lostGraceMs?: number;
  /** How long the replica's membership row lives without a heartbeat (ttlMs). @default 10_000 (tend's default) */
  readonly memberTtlMs?: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export interface InstanceRow {
  readonly id: string;
  readonly node: string;
  readonly port: number;
  readonly desired: string;
  readonly ready: boolean;
  readonly revision: string;
}

export interface OutageSummary {
  /** Instance ids of the web App that were ready and routed before the outage. */
  readonly healthy: readonly string[];
  /** The one that never passed its health check (running, not routed). */
  readonly unhealthy: string;
  /** Every answer through edge 1 from just before the stop until the end: the instance, or what failed. */
  readonly edge1: readonly string[];
  /** Edge 2 right after its restart during the outage: the gauge, and 40 answers. */
  readonly edge2: { readonly fromSnapshot: number; readonly answers: readonly string[]; readonly readsPostgresAgain: boolean };
  /** /healthz requests each web instance answered while PostgreSQL was down. */
  readonly healthChecksDuringOutage: Readonly<Record<string, number>>;
  readonly instances: { readonly before: readonly InstanceRow[]; readonly after: readonly InstanceRow[] };
  readonly processes: { readonly before: Readonly<Record<string, ProcessIdentity | undefined>>; readonly after: Readonly<Record<string, ProcessIdentity | undefined>> };
  readonly alive: { readonly before: readonly (Condition | undefined)[]; readonly after: readonly (Condition | undefined)[] };
  /** Routed backends after: the same as `healthy` when nothing moved. */
  readonly backendsAfter: readonly string[];
  /** From PostgreSQL back to n3's canary given up; ms. */
  readonly lostNodeHandledMs: number;
  readonly outageMs: number;
}

const HOST = 'web.outage.test';
const NS = 'outage';
const FIXTURE = join(REPO_ROOT, 'test/fixtures/instances/http-instance.mjs');

/** Starts everything, serves, stops PostgreSQL for `outageMs`, brings it back, stops everything; the figures. */
export async function runPostgresOutage(options: OutageOptions): Promise<OutageSummary> {
  // PostgreSQL is stopped, so it must be a server of this run's own even when DATABASE_URL names one.
  const env = await startTestEnvironment({ env: { ...process.env, DATABASE_URL: '' } });
  const run = new OutageRun(env, options);
  try {
    return await run.run();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${run.tails()}`, { cause: err });
  } finally {
    await run.stop();
    await env.stop({ keep: process.env.TEND_OUTAGE_KEEP === '1' });
  }
}

interface RunningEdge {
  readonly process: ServerProcess;
  readonly port: number;
  readonly adminPort: number;
  readonly stateDir: string;
}

class OutageRun {
  private readonly clients;
  private readonly routes;
  private readonly store: Store;
  private readonly processes = new Map<string, ServerProcess>();
  private readonly instancePorts = new Set<number>();
  private readonly heartbeatMs: number;
  private readonly log: (line: string) => void;
  private edgeStarts = 0;

  constructor(
    private readonly env: TestEnvironment,
    private readonly options: OutageOptions,
  ) {
    this.clients = platformClients(env.apiserver.kubeconfigPath);
    this.routes = new KubeClient<Route>(resourceType('Route'), this.clients.kubeConfig);
    this.store = new Store({ connectionString: env.postgres.databaseUrl, logger: createLogger({ level: 'silent' }), poolSize: 2, connectionWaitMs: 2_000 });
    this.heartbeatMs = options.nodeHeartbeatMs ?? 5_000;
    this.log = options.log ?? (() => {});
  }

  async run(): Promise<OutageSummary> {
    const { env, clients } = this;
    const setupMs = Math.max(90_000, 6 * this.heartbeatMs);
    await migrate(this.store, { tracks: [frameworkMigrations, platformMigrations] });
    await clients.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
    await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: NS }, spec: { namespaces: [NS], allowedHostnames: ['*.outage.test'] } });
    this.processes.set('replica', startTend('replica', [
      'run', '--kubeconfig', env.apiserver.kubeconfigPath, '--database-url', env.postgres.databaseUrl, '--replica', 'r1',
      '--node-heartbeat-ms', String(this.heartbeatMs), '--lost-grace-ms', String(this.options.lostGraceMs ?? 30_000),
      '--member-ttl-ms', String(this.options.memberTtlMs ?? 10_000), '--heartbeat-ms', String(Math.min(2_000, Math.floor((this.options.memberTtlMs ?? 10_000) / 5))),
      '--join-delay-ms', '0', '--log-level', 'warn',
    ], join(env.dir, 'replica.log')));

    // A canary pinned to n3, whose agent goes silent during the outage; the web App on n1 and n2.
    const [port1, port2] = [await freePort(), await freePort()];
    const edges = Promise.all([this.startEdge('edge-1', port1), this.startEdge('edge-2', port2)]);
    for (const [node, pool] of [['n1', 'web'], ['n2', 'web'], ['n3', 'canary']] as const) {
      await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: node }, spec: { address: '127.0.0.1', labels: { pool }, capacity: { cpu: '4', memory: '2Gi', disk: '10Gi' } } });
      this.processes.set(`agent-${node}`, this.agent(node));
    }
    await clients.app.create(app('canary', { placement: { nodeSelector: { pool: 'canary' } } }));
    await clients.app.create(app('web', { replicas: 2, placement: { nodeSelector: { pool: 'web' }, strategy: 'spread' } }));
    await this.routes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name: 'web', namespace: NS }, spec: { host: HOST, app: 'web' } });
    const canary = await eventually(async () => (await this.instancesOf('canary')).find((i) => i.ready && i.node === 'n3'), { what: 'the canary ready on n3', timeoutMs: setupMs });
    const healthy = await eventually(async () => {
      const ready = (await this.instancesOf('web')).filter((i) => i.ready).map((i) => i.id);
      return ready.length === 2 && JSON.stringify(await this.backends()) === JSON.stringify(ready) ? ready : undefined;
    }, { what: 'web served by its 2 ready instances', timeoutMs: setupMs });

    // A rollout whose new instance never passes its health check: it runs, unready, and no edge
    // may send it a request (the old instances keep serving, as maxUnavailable 0 wants).
    await updateSpec(clients.app, `${NS}/web`, (spec) => ({ ...spec, env: [{ name: 'FAIL_HEALTH_AFTER', value: '0' }] }));
    const sick = await eventually(async () => (await this.instancesOf('web')).find((i) => !healthy.includes(i.id) && i.port !== null), { what: 'the unhealthy instance running', timeoutMs: setupMs });
    await eventually(async () => ((await healthRequests(sick.port)) >= 2 ? true : undefined), { what: 'the unhealthy instance checked twice', timeoutMs: setupMs });
    const [edge1, firstEdge2] = await edges;
    let edge2 = firstEdge2;
    const version = await this.routingVersion();
    for (const edge of [edge1, edge2]) {
      await eventually(async () => {
        const read = await new RoutingSnapshot(join(edge.stateDir, 'routing.json')).read();
        return read.kind === 'table' && read.table.version === version && healthy.includes(await through(edge.port)) ? true : undefined;
      }, { what: `${edge.stateDir}: the snapshot of version ${version}, and the web App served` });
    }

    const before = await this.instancesOf('web');
    const processesBefore = Object.fromEntries(before.map((i) => [i.id, listeningProcess(i.port)]));
    const aliveBefore = await this.alive();
    this.log(`serving: ${healthy.length} healthy instances, 1 unhealthy (${sick.id}); stopping PostgreSQL for ${this.options.outageMs} ms`);

    // Requests through edge 1, from now until the end.
    const edge1Answers: string[] = [];
    let loading = true;
    const load = (async () => {
      while (loading) edge1Answers.push(await through(port1));
    })();

    await env.postgres.process!.stop();
    const outageEnds = Date.now() + this.options.outageMs;
    await this.processes.get('agent-n3')!.kill();
    const checksAtStop = await Promise.all(before.map((i) => healthRequests(i.port)));

    // Edge 2 restarted during the outage serves its snapshot.
    await edge2.process.kill();
    edge2 = await this.startEdge('edge-2', port2);
    const fromSnapshot = await metric(`http://127.0.0.1:${edge2.adminPort}/metrics`, 'tend_edge_routing_from_snapshot');
    const edge2Answers: string[] = [];
    for (let i = 0; i < 40; i++) edge2Answers.push(await through(port2));
    this.log(`edge 2 restarted during the outage: tend_edge_routing_from_snapshot ${fromSnapshot}`);

    // The agents keep health-checking their instances, the unhealthy one included.
    await eventually(async () => {
      const now = await Promise.all(before.map((i) => healthRequests(i.port)));
      return now.every((n, k) => n >= checksAtStop[k]! + 2) ? true : undefined;
    }, { what: 'two more health checks of every instance while PostgreSQL is down', timeoutMs: Math.max(20_000, this.options.outageMs) });
    await eventually(() => (Date.now() >= outageEnds ? true : undefined), { what: 'the end of the outage', timeoutMs: this.options.outageMs + 5_000 });
    const checksAtEnd = await Promise.all(before.map((i) => healthRequests(i.port)));

    await env.postgres.restart();
    const back = Date.now();
    this.log('PostgreSQL is back');
    await eventually(async () => ((await this.instancesOf('canary')).find((i) => i.id === canary.id)?.desired ?? 'gone') !== 'running' || undefined, {
      what: 'the canary on the lost n3 given up',
      timeoutMs: 60_000 + 3 * this.heartbeatMs + (this.options.lostGraceMs ?? 30_000),
    });
    const lostNodeHandledMs = Date.now() - back;
    this.log(`n3 judged lost and its canary given up ${lostNodeHandledMs} ms after PostgreSQL was back`);
    loading = false;
    await load;

    const after = await this.instancesOf('web');
    const readsPostgresAgain = await eventually(async () => ((await metric(`http://127.0.0.1:${edge2.adminPort}/metrics`, 'tend_edge_routing_from_snapshot')) === 0 ? true : undefined), { what: 'edge 2 reading PostgreSQL again' }).catch(() => false);
    return {
      healthy,
      unhealthy: sick.id,
      edge1: edge1Answers,
      edge2: { fromSnapshot, answers: edge2Answers, readsPostgresAgain },
      healthChecksDuringOutage: Object.fromEntries(before.map((i, k) => [i.id, checksAtEnd[k]! - checksAtStop[k]!])),
      instances: { before, after },
      processes: { before: processesBefore, after: Object.fromEntries(before.map((i) => [i.id, listeningProcess(i.port)])) },
      alive: { before: aliveBefore, after: await this.alive() },
      backendsAfter: await this.backends(),
      lostNodeHandledMs,
      outageMs: this.options.outageMs,
    };
  }

  async stop(): Promise<void> {
    await Promise.all([...this.processes.values()].map((p) => p.stop()));
    // Stopped agents leave their instances running (the next agent would adopt them): end them.
    for (const port of this.instancePorts) {
      const left = listeningProcess(port);
      if (left) process.kill(left.pid, 'SIGKILL');
    }
    await this.store.close();
  }

  /** The last lines each process logged, for a failure's message. */
  tails(): string {
    return [...this.processes].map(([name, p]) => `── ${name} ──\n${p.tail(15)}`).join('\n');
  }

  private agent(node: string): ServerProcess {
    const { env } = this;
    return startTend(`agent-${node}`, ['agent', '--node', node, '--database-url', env.postgres.databaseUrl, '--state-dir', join(env.dir, `agent-${node}`), '--heartbeat-ms', String(this.heartbeatMs), '--poll-ms', '500', '--log-level', 'warn'], join(env.dir, `agent-${node}.log`));
  }

  /** `tend edge` on `port` with its own state folder; resolves once it listens. */
  private async startEdge(name: string, port: number): Promise<RunningEdge> {
    const logFile = join(this.env.dir, `${name}-${++this.edgeStarts}.log`);
    const stateDir = join(this.env.dir, name);
    const process = startTend(name, ['edge', '--listen', `127.0.0.1:${port}`, '--database-url', this.env.postgres.databaseUrl, '--state-dir', stateDir, '--check-ms', '500', '--log-level', 'warn'], logFile);
    this.processes.set(name, process);
    const adminPort = await waitForServer(process, 'its listening line', async () => {
      const line = /^tend edge: proxy http:\/\/127\.0\.0\.1:\d+, admin http:\/\/127\.0\.0\.1:(\d+)$/m.exec(readFileSync(logFile, 'utf8'));
      return line ? Number(line[1]) : undefined;
    }, 90_000);
    return { process, port, adminPort, stateDir };
  }

  private async instancesOf(appName: string): Promise<InstanceRow[]> {
    const rows = await this.store.query<InstanceRow>({ name: 'outage.instances', text: 'select id, node, port, desired, ready, revision from platform.instances where app = $1 order by id' }, [`${NS}/${appName}`]);
    for (const row of rows) if (row.port !== null) this.instancePorts.add(row.port);
    return rows;
  }

  private async backends(): Promise<string[]> {
    const [row] = await this.store.query<{ backends: { instance: string }[] }>({ name: 'outage.backends', text: 'select backends from platform.routing where host = $1' }, [HOST]);
    return row?.backends.map((b) => b.instance).sort() ?? [];
  }

  private async routingVersion(): Promise<bigint> {
    return BigInt((await this.store.query<{ v: string }>({ name: 'outage.version', text: 'select version::text as v from platform.routing_version' }))[0]!.v);
  }

  private alive(): Promise<(Condition | undefined)[]> {
    return Promise.all(['n1', 'n2'].map(async (n) => findCondition((await this.clients.node.get(n as Key))?.status?.conditions, 'Alive')));
  }
}

function app(name: string, spec: Partial<NonNullable<App['spec']>>): App {
  return {
    apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name, namespace: NS },
    spec: { replicas: 1, command: ['node', FIXTURE], resources: { memory: '128Mi', cpu: '50m' }, healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 }, ...spec },
  };
}

/** Which instance answered one request through the edge on `port`; `status N` or `no answer` otherwise. */
async function through(port: number): Promise<string> {
  const answer = await Promise.race([send(port, HOST, '/env'), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5_000))]).catch(() => undefined);
  if (!answer) return 'no answer';
  return answer.status === 200 ? (JSON.parse(answer.body) as { TEND_INSTANCE: string }).TEND_INSTANCE : `status ${answer.status}`;
}

async function healthRequests(port: number): Promise<number> {
  return Number(await (await fetch(`http://127.0.0.1:${port}/health-requests`)).text());
}

/** The figures as the table `npm run bench:outage` prints. */
export function outageTable(s: OutageSummary): string {
  const failed = s.edge1.filter((a) => !s.healthy.includes(a)).length;
  const replaced = s.instances.before.filter((b) => JSON.stringify(s.instances.after.find((a) => a.id === b.id)) !== JSON.stringify(b)).length + s.instances.after.filter((a) => !s.instances.before.some((b) => b.id === a.id)).length;
  const restarted = Object.keys(s.processes.before).filter((id) => JSON.stringify(s.processes.before[id]) !== JSON.stringify(s.processes.after[id])).length;
  const rows: [string, string][] = [
    ['PostgreSQL down', `${s.outageMs} ms`],
    ['requests through the running edge (served / failed)', `${s.edge1.length - failed} / ${failed}`],
    ['edge restarted during the outage: served from its snapshot', `${s.edge2.fromSnapshot === 1 ? 'yes' : 'no'}, ${s.edge2.answers.filter((a) => s.healthy.includes(a)).length} of ${s.edge2.answers.length} answered, ${s.edge2.answers.filter((a) => a === s.unhealthy).length} to the unhealthy instance`],
    ['health checks per instance while PostgreSQL was down', Object.values(s.healthChecksDuringOutage).join(', ')],
    ['instance rows changed or added / processes restarted', `${replaced} / ${restarted}`],
    ['silent node judged lost and its instance given up after PostgreSQL was back', `${s.lostNodeHandledMs} ms`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v} |`).join('\n');
}
