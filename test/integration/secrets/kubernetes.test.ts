/**
 * Secrets delivery on the cluster backend: an App's env takes a key of a core/v1 Secret of its
 * namespace on the real API server; controllers in this process, a `tend agent` process with its
 * own login, the instance a real HTTP server. The controllers' cache holds no value, a missing
 * Secret or key is Ready=False SecretNotFound (what runs keeps running), a change rolls out.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceType } from '../../../api/resource-types.js';
import type { App } from '../../../api/types/app.js';
import type { Node } from '../../../api/types/node.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { KubeClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import type { Manager } from '../../../framework/runtime/manager.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { KubeSecrets } from '../../../secrets/kube-secrets.js';
import { freshNamespace, kubeConfig } from '../../env/context.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { REPO_ROOT } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import type { ServerProcess } from '../../env/server-process.js';
import { testShard } from '../../env/shard.js';
import { startTend } from '../../env/tend-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tend-k8s-secrets-'));
const controllerLog = join(dir, 'controllers.log');
const logger = createLogger({ level: 'debug', destination: pino.destination({ dest: controllerLog, sync: true }) });
const databases = new FreshDatabases('secrets');
const shard = testShard('secrets');
const node = `secrets-${randomBytes(3).toString('hex')}`;
const core = kubeConfig().makeApiClient(CoreV1Api);
const apps = new KubeClient<App>(resourceType('App'), kubeConfig());
const fixture = join(REPO_ROOT, 'test/fixtures/instances/http-instance.mjs');
const FIRST = `first-${randomBytes(12).toString('hex')}`;
const SECOND = `second-${randomBytes(12).toString('hex')}`;
const stop = new AbortController();
let store: Store;
let manager: Manager;
let running: Promise<void>;
let agent: ServerProcess;
let ns: string;
let credentials: string;

/** The node's agent (again: the same state folder, so it adopts what runs). */
function startAgent(run: number): ServerProcess {
  return startTend(`agent ${node} #${run}`, ['agent', '--node', node, '--credentials-file', credentials, '--state-dir', join(dir, 'agent'), '--heartbeat-ms', '1000', '--poll-ms', '1000'], join(dir, `agent-${run}.log`));
}

beforeAll(async () => {
  const url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  manager = buildPlatform({ kubeConfig: kubeConfig(), store, logger, replica: 'test', selector: shard.selector, membership: false, cluster: { heartbeatMs: 1_000 } });
  running = manager.start(stop.signal);
  ns = await freshNamespace('secrets');
  await new KubeClient<Tenant>(resourceType('Tenant'), kubeConfig()).create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: ns, labels: shard.labels }, spec: { namespaces: [ns] } });
  const nodes = new KubeClient<Node>(resourceType('Node'), kubeConfig());
  await nodes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: node, labels: shard.labels }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' } } });
  credentials = await enrolledCredentials(url, 'node', node, dir);
  agent = startAgent(1);
  await eventually(async () => (findCondition((await nodes.get(node as Key))?.status?.conditions, 'Ready')?.status === 'True' ? true : undefined), { what: `node ${node} Ready`, timeoutMs: 60_000 });
}, 120_000);

afterAll(async () => {
  await apps.delete(`${ns}/vault` as Key).catch(() => {});
  await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.count', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0 ? true : undefined), { what: 'instances gone', timeoutMs: 30_000 }).catch(() => {});
  await agent?.stop();
  stop.abort();
  await running;
  await store?.close();
  await databases.dropAll();
});

async function ready(): Promise<{ status: string; reason: string; message: string; revision: string }> {
  const app = await apps.get(`${ns}/vault` as Key);
  const c = findCondition(app?.status?.conditions, 'Ready');
  if (!c) throw new Error('no Ready condition yet');
  return { status: c.status, reason: c.reason, message: c.message, revision: app!.status!.revision ?? '' };
}

async function served(): Promise<string[]> {
  const rows = await store.query<{ port: number }>({ name: 'test.served', text: `select port from platform.instances where app = $1 and desired = 'running' and ready and port is not null` }, [`${ns}/vault`]);
  return Promise.all(rows.map(async (r) => (await fetch(`http://127.0.0.1:${r.port}/env/SECRET_VALUE`, { signal: AbortSignal.timeout(2_000) })).text()));
}

const secret = (data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: ns }, stringData: data });

describe('secrets on the cluster backend', () => {
  it('deliver a key of the namespace\'s Secret: SecretNotFound until it exists, the value served, a change rolled out, a lost key stops nothing, and no value cached, stored or logged', async () => {
    await apps.create({
      apiVersion: 'tend.dev/v1alpha1',
      kind: 'App',
      metadata: { name: 'vault', namespace: ns, labels: shard.labels },
      spec: {
        replicas: 1,
        command: ['node', fixture],
        resources: { memory: '64Mi', cpu: '50m' },
        healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 },
        env: [{ name: 'SECRET_VALUE', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }],
      },
    });
    const missing = await eventually(async () => ((await ready()).reason === 'SecretNotFound' ? ready() : undefined), { what: 'SecretNotFound', timeoutMs: 30_000 });
    expect(missing.message).toContain(`env SECRET_VALUE: secret ${ns}/db not found`);

    await core.createNamespacedSecret({ namespace: ns, body: secret({ password: FIRST }) });
    const first = await eventually(async () => ((await served())[0] === FIRST && (await ready()).status === 'True' ? ready() : undefined), { what: 'the first value served', timeoutMs: 60_000 });

    const changed = Date.now();
    await core.replaceNamespacedSecret({ namespace: ns, name: 'db', body: secret({ password: SECOND }) });
    const second = await eventually(async () => {
      const r = await ready();
      const values = await served();
      return r.revision !== first.revision && r.status === 'True' && values.length === 1 && values[0] === SECOND ? r : undefined;
    }, { what: 'the changed value rolled out', timeoutMs: 60_000 });
    console.log(`secrets (cluster): a changed Secret served by revision ${second.revision} after ${Date.now() - changed} ms`);

    // The node gets a new key (its key file lost, the agent restarted): what was sealed to the old
    // one cannot open there; the instance is replaced by one sealed to the new key.
    const sealedTo = () => store.query<{ id: string; sealedTo: string; key: string }>({ name: 'test.sealed_to', text: `select i.id, i.sealed_to as "sealedTo", a.sealing_key as key from platform.instances i join platform.node_agents a on a.node = i.node where i.app = $1 and i.desired = 'running'` }, [`${ns}/vault`]);
    const [before] = await sealedTo();
    expect(before!.sealedTo).toBe(before!.key);
    await agent.stop();
    rmSync(join(dir, 'agent', 'sealing.key'));
    agent = startAgent(2);
    await eventually(async () => {
      const now = await sealedTo();
      const values = await served();
      return now.length === 1 && now[0]!.id !== before!.id && now[0]!.key !== before!.key && now[0]!.sealedTo === now[0]!.key && values[0] === SECOND && (await ready()).status === 'True' ? true : undefined;
    }, { what: 'the instance replaced, sealed to the new key', timeoutMs: 90_000 });

    // The key gone: no new revision starts, the running instance keeps serving.
    await core.replaceNamespacedSecret({ namespace: ns, name: 'db', body: secret({ user: 'app' }) });
    const lost = await eventually(async () => ((await ready()).reason === 'SecretNotFound' ? ready() : undefined), { what: 'SecretNotFound for the key', timeoutMs: 30_000 });
    expect(lost.message).toContain(`env SECRET_VALUE: secret ${ns}/db has no key password (its keys: user)`);
    expect(await served()).toEqual([SECOND]);

    // The controllers' cache of Secrets: keys, no value (of any Secret in the cluster).
    const cached = manager.informer(new KubeSecrets(kubeConfig()).client).cache.list();
    expect(cached.find((s) => s.metadata.namespace === ns && s.metadata.name === 'db')?.data).toEqual({ user: '' });
    expect(cached.every((s) => Object.values(s.data ?? {}).every((v) => v === ''))).toBe(true);

    // Nothing tend keeps holds a value: every table, the controllers' log (debug), the agent's log.
    const tables = await store.query<{ name: string }>({ name: 'test.tables', text: `select format('%I.%I', schemaname, tablename) as name from pg_tables where schemaname in ('tend', 'platform')` });
    let dump = '';
    for (const { name } of tables) dump += (await store.query<{ t: string }>({ name: `test.dump_${name}`, text: `select coalesce(string_agg(t::text, E'\\n'), '') as t from ${name} t` }))[0]!.t;
    expect(dump).toContain('tend-seal-v1.');
    const logs = readFileSync(controllerLog, 'utf8') + readFileSync(join(dir, 'agent-1.log'), 'utf8') + readFileSync(join(dir, 'agent-2.log'), 'utf8');
    expect(logs).toContain('SecretUnavailable');
    expect(logs).toContain('instances placed');
    for (const value of [FIRST, SECOND]) {
      for (const form of [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')]) {
        expect(dump.includes(form)).toBe(false);
        expect(logs.includes(form)).toBe(false);
      }
    }
  }, 240_000);
});
