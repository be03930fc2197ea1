/**
 * `tend apply --wait` waits as `kubectl rollout status` does: until the controller has observed
 * the generation applied and an App's rollout is complete, not only until Ready (which an App
 * keeps through a healthy scale-up). Controllers in this process on the PostgreSQL backend, one
 * real `tend agent`, real instances that take a moment to pass their health check.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { admit } from '../../../api/admission.js';
import type { App } from '../../../api/types/app.js';
import { runApply } from '../../../cli/apply.js';
import type { CliIo } from '../../../cli/io.js';
import { buildPlatform, platformClients } from '../../../controllers/platform.js';
import { PostgresClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';

const HEARTBEAT_MS = 1_000;
const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('apply-wait');
const dir = mkdtempSync(join(tmpdir(), 'tend-apply-wait-'));
const stop = new AbortController();
let url: string;
let store: Store;
let clients: ReturnType<typeof platformClients>;
let running: Promise<void>;
let agent: ServerProcess;

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  clients = platformClients((type) => new PostgresClient(type, store, { listenUrl: url, admit }));
  running = buildPlatform({ store, logger, replica: 'test', membership: false, cluster: { heartbeatMs: HEARTBEAT_MS } }).start(stop.signal);
  await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['default'] } });
  await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi' } } });
  const credentials = await enrolledCredentials(url, 'node', 'n1', dir);
  agent = startTend('agent-n1', ['agent', '--node', 'n1', '--credentials-file', credentials, '--state-dir', join(dir, 'agent-n1'), '--heartbeat-ms', String(HEARTBEAT_MS), '--poll-ms', '500', '--crash-backoff-ms', '200'], join(dir, 'agent-n1.log'));
  await eventually(async () => (findCondition((await clients.node.get('n1' as Key))?.status?.conditions, 'Ready')?.status === 'True' ? true : undefined), { what: 'node n1 Ready', timeoutMs: 45_000 });
}, 120_000);

afterAll(async () => {
  for (const app of (await clients?.app.list())?.items ?? []) await clients.app.delete(`default/${app.metadata.name}` as Key);
  await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.count_instances', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0 ? true : undefined), { what: 'every instance gone', timeoutMs: 30_000 }).catch(() => {});
  await agent?.stop();
  stop.abort();
  await running;
  await databases.dropAll();
});

/** A server that listens (and so passes its health check) `delayMs` after it starts. */
const server = (delayMs: number) => ['node', '-e', `setTimeout(() => require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT), ${delayMs})`];

function appYaml(spec: Partial<NonNullable<App['spec']>>): string {
  const path = join(dir, `web-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(path, stringify({
    apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: 'default' },
    spec: { replicas: 1, command: server(1_500), resources: { memory: '64Mi', cpu: '50m' }, healthCheck: { httpGet: { path: '/' }, periodSeconds: 1 }, ...spec },
  }));
  return path;
}

async function apply(path: string): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: () => '' };
  const code = await runApply(['-f', path, '--wait', '--timeout', '60s', '--database-url', url], io, {});
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('tend apply --wait', () => {
  it('returns a new App once it is Ready and rolled out', async () => {
    const result = await apply(appYaml({}));
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    const app = (await clients.app.get('default/web' as Key))!;
    expect(app.status).toMatchObject({ readyReplicas: 1, updatedReplicas: 1, replicas: 1, observedGeneration: app.metadata.generation });
  }, 90_000);

  it('waits through a scale-up the App stays Ready for, until every new instance is ready', async () => {
    const result = await apply(appYaml({ replicas: 3 }));
    expect(result.code).toBe(0);
    const app = (await clients.app.get('default/web' as Key))!;
    expect(app.status).toMatchObject({ readyReplicas: 3, updatedReplicas: 3, replicas: 3, observedGeneration: app.metadata.generation });
    expect(findCondition(app.status?.conditions, 'Progressing')?.reason).toBe('RolloutComplete');
    // On the way it said what it waited for, in the App's own words.
    expect(result.out).toMatch(/app\.tend\.dev\/web: RollingOut: [0-2] of 3 instances of revision \w+ ready/);
    expect(result.out.split('\n').at(-1)).toMatch(/all 1 Ready$/);
  }, 90_000);

  it('waits through a rollout, and fails when the rollout passes its deadline', async () => {
    const rolled = await apply(appYaml({ replicas: 3, env: [{ name: 'REVISION', value: '2' }] }));
    expect(rolled.code).toBe(0);
    const app = (await clients.app.get('default/web' as Key))!;
    expect(app.status).toMatchObject({ readyReplicas: 3, updatedReplicas: 3, replicas: 3, revision: expect.any(String) });
    expect(findCondition(app.status?.conditions, 'Progressing')?.reason).toBe('RolloutComplete');

    // A revision that never becomes ready: the old one keeps serving (Ready=True), the rollout gives up after 2 s.
    const stuck = await apply(appYaml({ replicas: 3, command: ['node', '-e', 'setInterval(() => {}, 1000)'], rollout: { progressDeadlineSeconds: 2 } }));
    expect(stuck.code).toBe(1);
    expect(stuck.err).toMatch(/^tend: rollout failed: app\.tend\.dev\/web \(ProgressDeadlineExceeded: revision \w+: 1 instance not ready after 2 s/);
  }, 150_000);
});
