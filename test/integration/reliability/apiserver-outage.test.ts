/**
 * API server restart and etcd compaction during churn (issue 14 §3): two `tend run` replicas watch
 * API server A; the test writes through API server B on the same etcd, so it can change things
 * while A is down. Apps are created, scaled and deleted all the time. Twice, A goes away — stopped
 * for a while, then killed and restarted at once — and meanwhile, through B, an App is created,
 * one scaled, one deleted (its finalizer must come off), a Tenant made with an App in its
 * namespace, and a Tenant deleted; before A is back, etcd is compacted to its newest revision. The
 * replicas' watches then resume from versions A no longer has (410 Gone), they list again, and
 * every change is reconciled: every App that exists is Ready with as many instances as asked and
 * exactly that many placed, every App and Tenant deleted is gone with its instances.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store } from '../../../framework/store/index.js';
import { startTestEnvironment, type TestEnvironment } from '../../env/environment.js';
import { compactEtcd } from '../../env/etcd.js';
import { eventually } from '../../env/eventually.js';
import { metric } from '../../env/http-request.js';
import { startKubeApiserver, type KubeApiserver } from '../../env/kube-apiserver.js';
import { platformClients } from '../../env/platform-clients.js';
import { freePort } from '../../env/ports.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';
import { updateSpec } from '../../env/update-spec.js';

const NS = 'apiout';
let env: TestEnvironment;
let second: KubeApiserver;
let store: Store;
/** Through API server B: it stays up while A, the one the replicas watch, goes away. */
let clients: ReturnType<typeof platformClients>;
const replicas = new Map<string, { process: ServerProcess; healthPort: number }>();
const agents: ServerProcess[] = [];
/** Apps that must exist at the end, with the replicas asked for. */
const asked = new Map<string, number>();
/** Apps and Tenants deleted: gone at the end, with their instances. */
const deletedApps = new Set<string>();
const deletedTenants = new Set<string>();
let nextApp = 0;
let churning = false;
let churn: Promise<void> = Promise.resolve();
let churnOps = 0;

beforeAll(async () => {
  // A private API server: no other test file's controllers may reconcile these objects, and this one is stopped.
  env = await startTestEnvironment();
  const dir = join(env.dir, 'apiserver-b');
  mkdirSync(dir);
  second = await startKubeApiserver(env.binaries.kubeApiserver, env.etcd.url, dir);
  clients = platformClients(second.kubeconfigPath);
  store = new Store({ connectionString: env.postgres.databaseUrl, logger: createLogger({ level: 'silent' }), poolSize: 2 });
  await namespace(NS);
  await tenant(NS);
  for (const name of ['r1', 'r2']) {
    const healthPort = await freePort();
    const process = startTend(name, [
      'run', '--kubeconfig', env.apiserver.kubeconfigPath, '--database-url', env.postgres.databaseUrl, '--replica', name,
      '--health-port', String(healthPort),
      '--heartbeat-ms', '300', '--member-ttl-ms', '3000', '--join-delay-ms', '0', '--node-heartbeat-ms', '1000', '--lost-grace-ms', '600000',
      '--log-level', 'warn',
    ], join(env.dir, `${name}.log`));
    replicas.set(name, { process, healthPort });
  }
  await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'o1' }, spec: { address: '127.0.0.1', capacity: { cpu: '8', memory: '8Gi', disk: '10Gi' } } });
  agents.push(startTend('agent-o1', ['agent', '--node', 'o1', '--database-url', env.postgres.databaseUrl, '--state-dir', join(env.dir, 'agent-o1'), '--heartbeat-ms', '1000', '--poll-ms', '500', '--log-level', 'warn'], join(env.dir, 'agent-o1.log')));
}, 180_000);

afterAll(async () => {
  churning = false;
  await churn;
  for (const key of asked.keys()) await clients?.app.delete(key as Key).catch(() => {});
  await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.apiout_left', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0 ? true : undefined), { what: 'every instance gone', timeoutMs: 30_000 }).catch(() => {});
  await Promise.all([...agents, ...[...replicas.values()].map((r) => r.process)].map((p) => p.stop()));
  await store?.close();
  await second?.stop();
  await env?.stop();
}, 90_000);

async function namespace(name: string): Promise<void> {
  await clients.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
}

async function tenant(name: string): Promise<void> {
  const t: Tenant = { apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name }, spec: { namespaces: [name] } };
  await clients.tenant.create(t);
}

async function create(key: string, count: number): Promise<void> {
  const [namespace, name] = key.split('/') as [string, string];
  asked.set(key, count);
  const app: App = { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name, namespace }, spec: { replicas: count, command: ['sleep', '86400'], resources: { memory: '16Mi', cpu: '10m' } } };
  await clients.app.create(app);
}

async function scale(key: string, count: number): Promise<void> {
  asked.set(key, count);
  await updateSpec(clients.app, key, (spec) => ({ ...spec, replicas: count }));
}

async function remove(key: string): Promise<void> {
  asked.delete(key);
  deletedApps.add(key);
  await clients.app.delete(key as Key);
}

/** One change every 250 ms through B, whichever API server the replicas can see. */
function startChurn(): void {
  churning = true;
  churn = (async () => {
    for (let i = 0; churning; i++) {
      const churned = [...asked.keys()].filter((k) => k.includes('/churn-'));
      const op = churned.length < 3 ? 0 : i % 3;
      if (op === 0) await create(`${NS}/churn-${String(nextApp++).padStart(3, '0')}`, 1 + (i % 2));
      else if (op === 1) await scale(churned[i % churned.length]!, 1 + ((i + 1) % 3));
      else await remove(churned[0]!);
      churnOps++;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  // Awaited when the churn stops; a failed operation fails the test there.
  churn.catch(() => {});
}

/**
 * Every App asked for Ready with as many ready instances as asked and exactly that many placed;
 * every deleted App and Tenant gone with its instances. `only` limits it to the names it accepts
 * (while the churn goes on, its newest Apps are still on their way).
 */
async function converged(what: string, only: (name: string) => boolean = () => true): Promise<void> {
  await eventually(async () => {
    for (const [key, count] of asked) {
      if (!only(key)) continue;
      const app = await clients.app.get(key as Key);
      if (findCondition(app?.status?.conditions, 'Ready')?.status !== 'True' || app?.status?.readyReplicas !== count || (app.status.observedGeneration ?? 0) < (app.metadata.generation ?? 1)) {
        throw new Error(`${key}: ${app?.status?.readyReplicas ?? 0} of ${count} ready (generation ${app?.metadata.generation}, observed ${app?.status?.observedGeneration})`);
      }
      if ((await placed(key)) !== count) throw new Error(`${key}: ${await placed(key)} placed, ${count} asked for`);
    }
    for (const key of deletedApps) {
      if (!only(key)) continue;
      const app = await clients.app.get(key as Key);
      if (app) throw new Error(`${key}: still there (deleting since ${app.metadata.deletionTimestamp}, finalizers ${app.metadata.finalizers?.join(',')})`);
      const [{ n }] = (await store.query<{ n: number }>({ name: 'test.apiout_rows', text: 'select count(*)::int as n from platform.instances where app = $1' }, [key])) as [{ n: number }];
      if (n > 0) throw new Error(`${key}: deleted, ${n} instance rows left`);
    }
    for (const name of deletedTenants) {
      if (!only(name)) continue;
      const t = await clients.tenant.get(name as Key);
      if (t) throw new Error(`tenant ${name}: still there (finalizers ${t.metadata.finalizers?.join(',')})`);
    }
    return true;
  }, { what, timeoutMs: 90_000 });
}

async function placed(key: string): Promise<number> {
  const [{ n }] = (await store.query<{ n: number }>({ name: 'test.apiout_count', text: `select count(*)::int as n from platform.instances where app = $1 and desired = 'running'` }, [key])) as [{ n: number }];
  return n;
}

const expired = (name: string, resource: string) =>
  metric(`http://127.0.0.1:${replicas.get(name)!.healthPort}/metrics`, 'tend_informer_lists_total', { resource, reason: 'expired' });

/** The changes made while A is away: one of each kind the replicas must not miss. */
async function changeWhileAway(round: number): Promise<void> {
  await create(`${NS}/new-${round}`, 2);
  await scale(`${NS}/scaled-${round}`, 3);
  await remove(`${NS}/doomed-${round}`);
  await namespace(`late-${round}`);
  await tenant(`late-${round}`);
  await create(`late-${round}/web`, 1);
  await clients.tenant.delete(`gone-${round}` as Key);
  deletedTenants.add(`gone-${round}`);
}

describe('the controllers after an API server restart and an etcd compaction', () => {
  it('list again after 410 Gone and reconcile every change made while they could not watch', async () => {
    for (const round of [1, 2]) {
      await create(`${NS}/scaled-${round}`, 1);
      await create(`${NS}/doomed-${round}`, 2);
      await tenant(`gone-${round}`);
    }
    await converged('the first Apps');
    // Both Tenants to delete carry the finalizer by now: deleting them is work for the controllers.
    await eventually(async () => ((await clients.tenant.get('gone-2' as Key))?.metadata.finalizers?.length ? true : undefined), { what: 'Tenant finalizers' });
    startChurn();
    const figures: string[] = [];

    // 1: A stopped; changes through B; etcd compacted; A started again.
    await env.apiserver.stop();
    await changeWhileAway(1);
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // churn goes on while A is down
    const compacted1 = await compactEtcd(env.etcd.url);
    let back = Date.now();
    await env.apiserver.restart();
    const ready1 = Date.now();
    await converged('the changes made while A was stopped', (name) => /-1(\/|$)/.test(name));
    figures.push(`stop: A back ${ready1 - back} ms after the stop (compacted at revision ${compacted1}), the changes made meanwhile reconciled ${Date.now() - ready1} ms later`);

    // 2: A killed and started at once; the changes land while it boots.
    back = Date.now();
    await env.apiserver.process.kill();
    const restarting = env.apiserver.restart();
    await changeWhileAway(2);
    await compactEtcd(env.etcd.url);
    await restarting;
    const ready2 = Date.now();
    await converged('the changes made while A was restarting', (name) => /-2(\/|$)/.test(name));
    figures.push(`kill: A back ${ready2 - back} ms after the kill, the changes made meanwhile reconciled ${Date.now() - ready2} ms later`);
    churning = false;
    await churn;
    await converged('everything, once the churn stopped');

    const relists = await Promise.all(['r1', 'r2'].map(async (r) => `${r}: ${(await Promise.all(['tend.dev/apps', 'tend.dev/tenants'].map(async (res) => `${res} ${await expired(r, res)}`))).join(', ')}`));
    console.log(`API server outage: ${churnOps} churn operations; ${figures.join('; ')}; lists after 410 Gone ${relists.join('; ')}`);
    for (const [name, r] of replicas) expect(r.process.running, `${name} still running`).toBe(true);
    for (const name of ['r1', 'r2']) {
      // Two outages: each made every watch resume from a version A no longer had.
      expect(await expired(name, 'tend.dev/apps'), `${name}: app watches refused as too old`).toBeGreaterThanOrEqual(2);
      expect(await expired(name, 'tend.dev/tenants'), `${name}: tenant watches refused as too old`).toBeGreaterThanOrEqual(2);
    }
  }, 300_000);
});
