/**
 * Bad deploys, end to end with real parts: controllers in this process on the PostgreSQL backend,
 * one `tend agent` process running real instances, a `tend edge` process serving them, and the
 * `tend` verbs a user types (get, why, rollout).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../../api/admission.js';
import type { App } from '../../../api/types/app.js';
import { runGet } from '../../../cli/get.js';
import type { CliIo } from '../../../cli/io.js';
import { buildPlatform, platformClients } from '../../../controllers/platform.js';
import { PostgresClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrationsFolder, migrate } from '../../../framework/store/index.js';
import { platformMigrationsFolder } from '../../../migrations/index.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';

const HEARTBEAT_MS = 1_000;
const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('rollback');
const dir = mkdtempSync(join(tmpdir(), 'tend-rollback-'));
const stop = new AbortController();
let url: string;
let store: Store;
let clients: ReturnType<typeof platformClients>;
let running: Promise<void>;
let agent: ServerProcess;

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { folders: [frameworkMigrationsFolder, platformMigrationsFolder] });
  clients = platformClients((type) => new PostgresClient(type, store, { listenUrl: url, admit }));
  // A pool of its own: the manager closes its store when it stops.
  const own = new Store({ connectionString: url, logger });
  running = buildPlatform({ store: own, logger, replica: 'test', membership: false, cluster: { heartbeatMs: HEARTBEAT_MS, lostGraceMs: 2_000 } }).start(stop.signal);
  await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['default'], allowedHostnames: ['*.acme.test'] } });
  await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' } } });
  agent = startTend('agent-n1', ['agent', '--node', 'n1', '--database-url', url, '--state-dir', join(dir, 'agent-n1'), '--heartbeat-ms', String(HEARTBEAT_MS), '--poll-ms', '500', '--crash-backoff-ms', '300'], join(dir, 'agent-n1.log'));
  await eventually(async () => (findCondition((await clients.node.get('n1' as Key))?.status?.conditions, 'Ready')?.status === 'True' ? true : undefined), { what: 'node n1 Ready', timeoutMs: 30_000 });
}, 120_000);

afterAll(async () => {
  for (const app of (await clients?.app.list())?.items ?? []) await clients.app.delete(`${app.metadata.namespace}/${app.metadata.name}` as Key);
  await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.count_instances', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0 ? true : undefined), { what: 'every instance gone', timeoutMs: 30_000 }).catch(() => {});
  await agent?.stop();
  stop.abort();
  await running;
  await store?.close();
  await databases.dropAll();
});

/** Runs a verb in-process against this file's database; its output lines. */
async function tend(verb: (args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv) => Promise<number>, ...args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => out.push(l), readStdin: () => '' };
  const code = await verb([...args, '--database-url', url], io, {});
  return { code, out };
}

async function condition(name: string, type: string, status: string, reason?: string) {
  return eventually(async () => {
    const c = findCondition((await clients.app.get(`default/${name}` as Key))?.status?.conditions, type);
    return c?.status === status && (!reason || c.reason === reason) ? c : undefined;
  }, { what: `${name} ${type}=${status} ${reason ?? ''}`, timeoutMs: 45_000 });
}

function hello(name: string, replicas: number, extra: Partial<NonNullable<App['spec']>> = {}): App {
  return {
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'App',
    metadata: { name, namespace: 'default' },
    spec: { replicas, command: ['node', 'examples/hello-server.mjs'], resources: { memory: '64Mi', cpu: '100m' }, healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 }, ...extra },
  };
}

describe('a crash-looping App', () => {
  it('says CrashLoopBackOff with restarts, last exit and next restart, in its conditions and in tend get apps', async () => {
    await clients.app.create(hello('crashy', 1, { command: ['node', '-e', 'console.log("starting"); process.exit(3)'] }));
    const available = await eventually(async () => {
      const c = await condition('crashy', 'Available', 'False', 'CrashLoopBackOff');
      return /: [2-9]\d* restarts/.test(c.message) ? c : undefined;
    }, { what: 'two restarts reported', timeoutMs: 45_000 });
    expect(available.message).toMatch(/^0 of 1 ready; 1 instance in CrashLoopBackOff: default\.crashy-\S+ on n1: \d+ restarts, last exit Error \(code 3\) at \S+Z, next restart at \S+Z$/);
    expect(findCondition((await clients.app.get('default/crashy' as Key))?.status?.conditions, 'Ready')?.reason).toBe('CrashLoopBackOff');

    const table = await tend(runGet, 'apps', 'crashy', '-o', 'wide');
    expect(table.code).toBe(0);
    const [header, row] = table.out;
    expect(header).toMatch(/^NAME\s+READY\s+DESIRED\s+HEALTHY\s+REVISION\s+REASON\s+AGE\s+MESSAGE$/);
    expect(row).toMatch(/^crashy\s+False\s+1\s+0\s+\w+\s+CrashLoopBackOff\s+\S+\s+0 of 1 ready; 1 instance in CrashLoopBackOff: .* restarts, last exit Error \(code 3\) at \S+Z, next restart at \S+Z$/);
    await clients.app.delete('default/crashy' as Key);
  });
});
