/**
 * A platform under a hostile tenant, for test/integration/platform/hostile.test.ts and
 * `npm run bench:hostile`: a private etcd + kube-apiserver + PostgreSQL, one `tend run` replica as
 * its own process (its /readyz, /metrics and RSS are what is measured), a real node with a real
 * agent for the well-behaved tenant's App, and simulated nodes (heartbeats written from here,
 * nothing runs there; enough of them at maxInstancesPerNode to hold the hostile tenant's instance
 * quota) that take the hostile tenant's instances.
 *
 * The hostile Apps select the simulated nodes: this harness is about the control plane's work.
 * Hundreds of thousands of real processes on the one real node would measure the machine instead
 * (what the agent does with instances it cannot run is its own test).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CoreV1Api } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import type { App } from '../../api/types/app.js';
import { findCondition } from '../../framework/conditions/index.js';
import { createLogger } from '../../framework/log/logger.js';
import type { Key } from '../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../framework/store/index.js';
import { platformMigrations } from '../../migrations/index.js';
import { DEFAULT_CLUSTER_CONFIG } from '../../reconcilers/node.js';
import { startTestEnvironment, REPO_ROOT, type TestEnvironment } from './environment.js';
import { enrolledCredentials } from './enroll.js';
import { platformClients } from './platform-clients.js';
import { freePort } from './ports.js';
import { waitForServer, type ServerProcess } from './server-process.js';
import { startTend } from './tend-process.js';

const HEARTBEAT_MS = 1_000;
/** The well-behaved tenant and its namespace. */
export const GOOD_NAMESPACE = 'good';
/** The hostile tenant's namespace: as long as a namespace name may be (63). */
export const HOSTILE_NAMESPACE = `hostile-${'x'.repeat(55)}`;

export interface HostilePlatform {
  readonly env: TestEnvironment;
  readonly clients: ReturnType<typeof platformClients>;
  readonly store: Store;
  readonly replica: ServerProcess;
  readonly healthUrl: string;
  /** What the first hostile App was admitted with (the worst the schema takes). */
  worst?: { readonly replicas: number; readonly memory: string; readonly nameLength: number };
  stop(): Promise<void>;
}

export interface HostileOptions {
  /** spec.quota.instances of the hostile tenant (the platform operator's bound on its sum). */
  readonly hostileInstanceQuota: number;
}

/** Starts everything and waits until both nodes are schedulable. */
export async function startHostilePlatform(options: HostileOptions): Promise<HostilePlatform> {
  const logger = createLogger({ level: 'warn' });
  const env = await startTestEnvironment();
  const clients = platformClients(env.apiserver.kubeconfigPath);
  const store = new Store({ connectionString: env.postgres.databaseUrl, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  const core = clients.kubeConfig.makeApiClient(CoreV1Api);
  for (const name of [GOOD_NAMESPACE, HOSTILE_NAMESPACE]) await core.createNamespace({ body: { metadata: { name } } });

  const healthPort = await freePort();
  const replica = startTend('replica', [
    'run', '--kubeconfig', env.apiserver.kubeconfigPath, '--database-url', env.postgres.databaseUrl, '--replica', 'r1',
    '--health-port', String(healthPort), '--node-heartbeat-ms', String(HEARTBEAT_MS), '--join-delay-ms', '0', '--log-level', 'warn',
  ], join(env.dir, 'replica.log'));
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  await waitForServer(replica, '/readyz', async () => ((await fetch(`${healthUrl}/readyz`)).ok ? true : undefined), 60_000);

  await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'real' }, spec: { labels: { pool: 'real' }, address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' } } });
  const simNodes = Array.from({ length: Math.ceil(options.hostileInstanceQuota / DEFAULT_CLUSTER_CONFIG.maxInstancesPerNode) + 1 }, (_, i) => `sim-${i}`);
  for (const name of simNodes) {
    await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name }, spec: { labels: { pool: 'sim' }, address: '127.0.0.2', capacity: { cpu: '64', memory: '64Gi', disk: '100Gi' } } });
  }
  const credentials = await enrolledCredentials(env.postgres.databaseUrl, 'node', 'real', env.dir);
  const agent = startTend('agent-real', [
    'agent', '--node', 'real', '--credentials-file', credentials, '--state-dir', mkdtempSync(join(tmpdir(), 'tend-hostile-agent-')),
    '--heartbeat-ms', String(HEARTBEAT_MS), '--poll-ms', '1000',
  ], join(env.dir, 'agent-real.log'));
  // The simulated nodes' agents: only their heartbeats.
  const beat = () => store.query({
    name: 'hostile.sim_beat',
    text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement, isolated)
           select unnest($1::text[]), now(), now(), 64000, 68719476736, 107374182400, 'rss-polling', true
           on conflict (node) do update set heartbeat_at = now()`,
  }, [simNodes]).catch(() => {});
  await beat();
  const beating = setInterval(() => void beat(), HEARTBEAT_MS);

  await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'good' }, spec: { namespaces: [GOOD_NAMESPACE] } });
  await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'hostile' }, spec: { namespaces: [HOSTILE_NAMESPACE], quota: { instances: options.hostileInstanceQuota } } });
  for (const node of ['real', ...simNodes]) {
    await waitForServer(replica, `node ${node} schedulable`, async () => {
      const [row] = await store.query<{ state: string }>({ name: 'hostile.node_state', text: 'select state from platform.nodes where name = $1' }, [node]);
      const alive = (await store.query<{ n: number }>({ name: 'hostile.node_alive', text: `select count(*)::int as n from platform.node_agents where node = $1 and heartbeat_at > now() - interval '3 seconds'` }, [node]))[0]!.n;
      return row?.state === 'ready' && alive > 0 ? true : undefined;
    }, 60_000);
  }

  return {
    env, clients, store, replica, healthUrl,
    async stop() {
      clearInterval(beating);
      await agent.stop();
      await replica.stop();
      await store.close();
      await env.stop();
    },
  };
}

/** The largest replicas the App schema admits (its maximum, else int32's). */
function largestReplicas(): number {
  const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'schemas/app.schema.json'), 'utf8'));
  return schema.properties.spec.properties.replicas.maximum ?? 2 ** 31 - 1;
}

function hostileApp(index: number, worst: { replicas: number; memory: string; nameLength: number }): App {
  const prefix = `h${String(index).padStart(4, '0')}-`;
  return {
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'App',
    metadata: { name: prefix + 'x'.repeat(worst.nameLength - prefix.length), namespace: HOSTILE_NAMESPACE },
    spec: {
      replicas: worst.replicas,
      command: ['true'],
      resources: { memory: worst.memory, cpu: '1m' },
      placement: { nodeSelector: { pool: 'sim' } },
    },
  };
}

/**
 * Applies `count` hostile Apps: the first with the worst the API server admits (largest replicas,
 * smallest memory, longest name: tried in that order of badness), the rest alike.
 */
export async function applyHostileApps(platform: HostilePlatform, count: number): Promise<void> {
  const replicas = largestReplicas();
  if (!platform.worst) {
    const tries = [
      { replicas, memory: '1', nameLength: 253 },
      { replicas, memory: '1Mi', nameLength: 253 },
      { replicas, memory: '1', nameLength: 63 },
      { replicas, memory: '1Mi', nameLength: 63 },
    ];
    const errors: string[] = [];
    for (const worst of tries) {
      try {
        await platform.clients.app.create(hostileApp(0, worst));
        platform.worst = worst;
        break;
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
      }
    }
    if (!platform.worst) throw new Error(`no hostile App admitted: ${errors.join('; ')}`);
  }
  const worst = platform.worst;
  const queue = new PQueue({ concurrency: 8 });
  await Promise.all(Array.from({ length: count - 1 }, (_, i) => queue.add(() => platform.clients.app.create(hostileApp(i + 1, worst)))));
}

/** The well-behaved tenant's App: one hello-server on the real node. */
export function goodApp(name: string): App {
  return {
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'App',
    metadata: { name, namespace: GOOD_NAMESPACE },
    spec: {
      replicas: 1,
      command: ['node', join(REPO_ROOT, 'examples/hello-server.mjs')],
      resources: { memory: '64Mi', cpu: '100m' },
      healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 },
      placement: { nodeSelector: { pool: 'real' } },
    },
  };
}

/** Creates a good App and resolves with the milliseconds from apply to Ready=True; then deletes it. */
export async function goodAppToReady(platform: HostilePlatform, name: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  await platform.clients.app.create(goodApp(name));
  const key = `${GOOD_NAMESPACE}/${name}` as Key;
  for (;;) {
    const app = await platform.clients.app.get(key);
    if (findCondition(app?.status?.conditions, 'Ready')?.status === 'True') break;
    if (performance.now() - started > timeoutMs) throw new Error(`${key} not Ready within ${timeoutMs} ms: ${JSON.stringify(app?.status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const ms = performance.now() - started;
  await platform.clients.app.delete(key);
  return ms;
}

/** Repeats `probe` back to back (with `gapMs` between) until stopped; each call has `timeoutMs`. */
export class Sampler {
  readonly durations: number[] = [];
  readonly failures: string[] = [];
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(probe: (signal: AbortSignal) => Promise<void>, options: { readonly gapMs: number; readonly timeoutMs: number }) {
    this.done = (async () => {
      while (!this.stopped) {
        const started = performance.now();
        const signal = AbortSignal.timeout(options.timeoutMs);
        const timedOut = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error(`no answer within ${options.timeoutMs} ms`)), { once: true }));
        try {
          await Promise.race([probe(signal), timedOut]);
          this.durations.push(performance.now() - started);
        } catch (err) {
          this.failures.push(`${Math.round(performance.now() - started)} ms: ${err instanceof Error ? err.message : String(err)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, options.gapMs));
      }
    })();
  }

  async stop(): Promise<this> {
    this.stopped = true;
    await this.done;
    return this;
  }

  percentile(p: number): number {
    const sorted = [...this.durations].sort((a, b) => a - b);
    return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  }
}

/** /readyz of the replica answering 200. */
export const readyzProbe = (platform: HostilePlatform) => async (signal: AbortSignal) => {
  const res = await fetch(`${platform.healthUrl}/readyz`, { signal });
  await res.text();
  if (!res.ok) throw new Error(`/readyz answered ${res.status}`);
};

/** Listing every App (what `tend get apps -A` asks the API server for). */
export const listProbe = (platform: HostilePlatform) => async () => {
  await platform.clients.app.list();
};

/** The replica's Prometheus text. */
export async function scrape(platform: HostilePlatform): Promise<string> {
  return (await fetch(`${platform.healthUrl}/metrics`)).text();
}

/** One unlabelled sample of the Prometheus text, NaN when absent. */
export function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Resident memory of the replica now, in MiB (VmRSS). */
export function replicaRssMb(platform: HostilePlatform): number {
  const status = readFileSync(`/proc/${platform.replica.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/** The hostile tenant's status.usage.instances, how many instances PostgreSQL holds for it, and the most on one node. */
export async function hostileUsage(platform: HostilePlatform): Promise<{ status: number | undefined; placed: number; mostOnANode: number }> {
  const tenant = await platform.clients.tenant.get('hostile' as Key);
  const [row] = await platform.store.query<{ n: number; most: number }>({
    name: 'hostile.placed',
    text: `select coalesce(sum(n), 0)::int as n, coalesce(max(n), 0)::int as most
           from (select count(*) as n from platform.instances where tenant = 'hostile' group by node) per_node`,
  });
  return { status: tenant?.status?.usage?.instances, placed: row!.n, mostOnANode: row!.most };
}
