/**
 * Pool exhaustion (issue 14 §3): three `tend run` replicas whose pools together may open more
 * connections than their PostgreSQL allows (replicas × --pool-size > max_connections). At rest
 * they fit; a burst of Apps makes every pool grow, and the server refuses the connections past
 * its limit (SQLSTATE 53300). Each replica logs that once, with what to change, and counts it in
 * tend_db_errors_total{kind="too_many_connections"}; no replica exits; the burst converges anyway
 * (the refused reconciles are retried with backoff on the connections there are); a replica
 * started while the server is full waits for a connection instead of exiting. When the burst is
 * over and the pools have given their idle connections back, each replica logs that the refusals
 * stopped, and the next changes converge without a refusal.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import { findCondition } from '../../../framework/conditions/index.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { startTestEnvironment, type TestEnvironment } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import { metric } from '../../env/http-request.js';
import { platformClients } from '../../env/platform-clients.js';
import { freePort } from '../../env/ports.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';

const NS = 'pools';
const MAX_CONNECTIONS = 20;
const POOL_SIZE = 10;
let env: TestEnvironment;
let clients: ReturnType<typeof platformClients>;
/** The test's own connection, opened before the server fills up and kept. */
let db: pg.Client;
const replicas = new Map<string, { process: ServerProcess; healthPort: number; logFile: string }>();
const agents: ServerProcess[] = [];
const asked = new Map<string, number>();

beforeAll(async () => {
  // The server's max_connections is this test's: it must be a PostgreSQL of its own.
  env = await startTestEnvironment({ env: { ...process.env, DATABASE_URL: '' }, postgresSettings: { max_connections: String(MAX_CONNECTIONS) } });
  db = new pg.Client({ connectionString: env.postgres.databaseUrl, application_name: 'test' });
  await db.connect();
  clients = platformClients(env.apiserver.kubeconfigPath);
  await clients.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: NS }, spec: { namespaces: [NS] } });
  for (const name of ['r1', 'r2', 'r3']) await startReplica(name);
  await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'p1' }, spec: { address: '127.0.0.1', capacity: { cpu: '16', memory: '16Gi', disk: '10Gi' } } });
  agents.push(startTend('agent-p1', ['agent', '--node', 'p1', '--database-url', env.postgres.databaseUrl, '--state-dir', join(env.dir, 'agent-p1'), '--heartbeat-ms', '1000', '--poll-ms', '500', '--log-level', 'warn'], join(env.dir, 'agent-p1.log')));
}, 180_000);

afterAll(async () => {
  for (const key of asked.keys()) await clients?.app.delete(key as Key).catch(() => {});
  await eventually(async () => ((await db.query<{ n: number }>('select count(*)::int as n from platform.instances')).rows[0]!.n === 0 ? true : undefined), { what: 'every instance gone', timeoutMs: 30_000 }).catch(() => {});
  await Promise.all([...agents, ...[...replicas.values()].map((r) => r.process)].map((p) => p.stop()));
  await db?.end();
  await env?.stop();
}, 90_000);

async function startReplica(name: string): Promise<void> {
  const healthPort = await freePort();
  const logFile = join(env.dir, `${name}.log`);
  const process = startTend(name, [
    'run', '--kubeconfig', env.apiserver.kubeconfigPath, '--database-url', env.postgres.databaseUrl, '--replica', name,
    '--health-port', String(healthPort), '--pool-size', String(POOL_SIZE),
    '--heartbeat-ms', '300', '--member-ttl-ms', '3000', '--join-delay-ms', '0', '--node-heartbeat-ms', '1000', '--lost-grace-ms', '600000',
    '--log-level', 'warn',
  ], logFile);
  replicas.set(name, { process, healthPort, logFile });
}

async function create(name: string): Promise<void> {
  asked.set(`${NS}/${name}`, 1);
  const app: App = { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name, namespace: NS }, spec: { replicas: 1, command: ['sleep', '86400'], resources: { memory: '16Mi', cpu: '10m' } } };
  await clients.app.create(app);
}

/** Every App Ready with its one instance, and exactly one placed. */
async function converged(what: string): Promise<void> {
  await eventually(async () => {
    const { rows } = await db.query<{ app: string; n: number }>(`select app, count(*)::int as n from platform.instances where desired = 'running' group by app`);
    const placed = new Map(rows.map((r) => [r.app, r.n]));
    for (const [key, count] of asked) {
      const app = await clients.app.get(key as Key);
      if (findCondition(app?.status?.conditions, 'Ready')?.status !== 'True' || app?.status?.readyReplicas !== count) throw new Error(`${key}: ${app?.status?.readyReplicas ?? 0} of ${count} ready`);
      if ((placed.get(key) ?? 0) !== count) throw new Error(`${key}: ${placed.get(key) ?? 0} placed, ${count} asked for`);
    }
    return true;
  }, { what, timeoutMs: 90_000 });
}

/** Connections the server holds, by application_name. */
async function connections(): Promise<string> {
  const { rows } = await db.query<{ name: string; n: number }>(`select coalesce(nullif(application_name, ''), backend_type) as name, count(*)::int as n from pg_stat_activity where backend_type = 'client backend' group by 1 order by 1`);
  return rows.map((r) => `${r.name} ${r.n}`).join(', ');
}

const url = (name: string) => `http://127.0.0.1:${replicas.get(name)!.healthPort}/metrics`;
const refused = (name: string) => metric(url(name), 'tend_db_errors_total', { kind: 'too_many_connections' });
const lines = (name: string, text: string) => readFileSync(replicas.get(name)!.logFile, 'utf8').split('\n').filter((l) => l.includes(text));

describe('replicas whose pools together ask for more than max_connections', () => {
  it('log it once, back off, converge, and recover once connections free up', async () => {
    for (let i = 0; i < 3; i++) await create(`rest-${i}`);
    await converged('the first Apps');
    const atRest = await connections();

    // A burst: every controller of every replica wants connections at once.
    await Promise.all(Array.from({ length: 30 }, (_, i) => create(`burst-${String(i).padStart(2, '0')}`)));
    let peak = '';
    await eventually(async () => {
      peak = await connections();
      return (await refused('r1')) + (await refused('r2')) + (await refused('r3')) > 0 ? true : undefined;
    }, { what: 'a connection refused at max_connections', timeoutMs: 60_000 });
    // A replica that starts now finds the server full: it must wait for a connection, not exit.
    await startReplica('r4');
    await converged('the burst, with connections refused');
    await eventually(async () => ((await metric(url('r4'), 'tend_member_active')) === 1 ? true : undefined), { what: 'r4 joined', timeoutMs: 60_000 });

    const names = [...replicas.keys()];
    const counts = new Map(await Promise.all(names.map(async (r) => [r, await refused(r)] as const)));
    const burstLines = new Map(names.map((r) => [r, lines(r, 'PostgreSQL refuses new connections').length]));
    // The pools give idle connections back after 10 s; then no replica is refused for 10 s more.
    for (const name of names) {
      if (counts.get(name)! > 0) await eventually(() => (lines(name, 'PostgreSQL refused no new connection').length > 0 ? true : undefined), { what: `${name}: the refusals over`, timeoutMs: 60_000 });
      await eventually(async () => ((await metric(url(name), 'tend_db_available')) === 1 ? true : undefined), { what: `${name}: tend_db_available 1`, timeoutMs: 30_000 });
      // The pool was capped at what it held when refused; it may open all of poolSize again.
      expect(await metric(url(name), 'tend_db_pool_connections', { state: 'max' }), name).toBe(POOL_SIZE);
    }
    const afterwards = await connections();
    for (let i = 0; i < 3; i++) await create(`after-${i}`);
    await converged('the Apps made after');

    const figures = names.map((r) => `${r} ${counts.get(r)} refused, ${burstLines.get(r)} error line in the burst (${lines(r, 'PostgreSQL refuses new connections').length} in all), ${lines(r, 'reconcile failed').length} failed reconciles`);
    console.log(`pool exhaustion: max_connections ${MAX_CONNECTIONS}, replicas × pool ${POOL_SIZE}; at rest: ${atRest}; at the peak: ${peak}; afterwards: ${afterwards}; ${figures.join('; ')}`);
    for (const [name, r] of replicas) expect(r.process.running, `${name} still running`).toBe(true);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0);
    // Each refusal costs the server a backend started for nothing; a pool capped at what it holds
    // asks again only when probing (about 10 here; 190 when every query could try).
    expect(total).toBeLessThan(60);
    for (const name of names) {
      // The burst: one error line, however many connections were refused (probes refused
      // meanwhile are the same episode). Later, 4 replicas × 10 may be refused again: a new
      // episode, which starts with its own line and ends with its own.
      expect(burstLines.get(name), name).toBe(counts.get(name)! > 0 ? 1 : 0);
      const starts = lines(name, 'PostgreSQL refuses new connections').length;
      expect(starts - lines(name, 'PostgreSQL refused no new connection').length, name).toBeGreaterThanOrEqual(0);
      expect(starts - lines(name, 'PostgreSQL refused no new connection').length, name).toBeLessThanOrEqual(1);
      expect(lines(name, 'PostgreSQL cannot be used'), name).toEqual([]);
    }
  }, 300_000);
});
