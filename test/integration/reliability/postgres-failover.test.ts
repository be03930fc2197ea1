/**
 * PostgreSQL primary failover (issue 14 §4): a `tend run` replica, a `tend agent` and a
 * `tend edge`, all given `DATABASE_URL=postgres://…@primary,standby/db?target_session_attrs=read-write`,
 * on a real API server and a real primary with its synchronous streaming standby
 * (test/env/postgres-pair.ts). Apps converge; the primary is shut down immediately (SIGQUIT, as
 * a crash) and the standby promoted (`pg_ctl promote`); then an App is scaled and another
 * created. Asserted: every process is still the one started, everything converges on the new
 * primary, nothing acknowledged before the switch is missing there (instance rows, and every
 * write the test's own Store was told had committed), and the edge answered every request
 * throughout. Printed: from the primary's stop to each process's first write (or session) on
 * the new primary.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceType } from '../../../api/resource-types.js';
import type { App } from '../../../api/types/app.js';
import type { Route } from '../../../api/types/route.js';
import { KubeClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate, type NamedQuery } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { REPO_ROOT, startTestEnvironment, type TestEnvironment } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import { send } from '../../env/http-request.js';
import { listeningProcess } from '../../env/listening-process.js';
import { platformClients } from '../../env/platform-clients.js';
import { startPostgresPair, type PostgresPair } from '../../env/postgres-pair.js';
import { freePort } from '../../env/ports.js';
import { waitForServer, type ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';
import { updateSpec } from '../../env/update-spec.js';

const NS = 'failover';
const HOST = 'web.failover.test';
const FIXTURE = join(REPO_ROOT, 'test/fixtures/instances/http-instance.mjs');

const q = (name: string, text: string): NamedQuery => ({ name: `test.failover.${name}`, text });
const createMarks = q('create_marks', 'create table if not exists failover_marks (n int primary key)');
const insertMark = q('insert_mark', 'insert into failover_marks (n) values ($1)');
const selectMarks = q('marks', 'select n from failover_marks');
const instancesOf = q('instances', "select id, node, desired, ready from platform.instances where app = $1 and desired = 'running' order by id");
const backendsOf = q('backends', 'select backends from platform.routing where host = $1');

let env: TestEnvironment;
let pair: PostgresPair;
let pairDir: string;
let store: Store;
/** Where the test looks: the primary, then the promoted standby (by their own URLs, so a broken host list fails only the processes). */
let observer: Store;
let clients: ReturnType<typeof platformClients>;
const processes = new Map<string, ServerProcess>();
const instancePorts = new Set<number>();

beforeAll(async () => {
  // Its own servers: the pair is shut down and promoted, and the API server's PostgreSQL is not used.
  env = await startTestEnvironment({ env: { ...process.env, DATABASE_URL: '' } });
  pairDir = mkdtempSync(join(tmpdir(), 'tend-failover-'));
  pair = await startPostgresPair(pairDir);
  // The test's own Store goes through the same host list as the processes.
  store = new Store({ connectionString: pair.databaseUrl, logger: createLogger({ level: 'silent' }), poolSize: 3, connectionWaitMs: 2_000 });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  await store.query(createMarks);
  observer = observe(pair.urlOn(pair.primary));
  clients = platformClients(env.apiserver.kubeconfigPath);
}, 180_000);

afterAll(async () => {
  await Promise.all([...processes.values()].map((p) => p.stop()));
  // A stopped agent leaves its instances running (the next one would adopt them): end them.
  for (const port of instancePorts) {
    const left = listeningProcess(port);
    if (left) process.kill(left.pid, 'SIGKILL');
  }
  await store?.close();
  await observer?.close();
  await pair?.stop();
  if (pairDir) rmSync(pairDir, { recursive: true, force: true });
  await env?.stop();
});

describe('PostgreSQL primary failover', () => {
  it('converges on the promoted standby without a restart, loses nothing acknowledged, and the edge keeps serving', async () => {
    const url = pair.databaseUrl;
    const dir = env.dir;
    processes.set('replica', startTend('replica', [
      'run', '--kubeconfig', env.apiserver.kubeconfigPath, '--database-url', url, '--replica', 'r1',
      '--heartbeat-ms', '1000', '--join-delay-ms', '0', '--log-level', 'warn',
    ], join(dir, 'replica.log')));
    processes.set('agent', startTend('agent', ['agent', '--node', 'n1', '--database-url', url, '--state-dir', join(dir, 'agent-n1'), '--heartbeat-ms', '1000', '--poll-ms', '500', '--log-level', 'warn'], join(dir, 'agent.log')));
    const edgePort = await freePort();
    const edgeLog = join(dir, 'edge.log');
    processes.set('edge', startTend('edge', ['edge', '--listen', `127.0.0.1:${edgePort}`, '--database-url', url, '--state-dir', join(dir, 'edge'), '--check-ms', '500', '--log-level', 'warn'], edgeLog));

    await clients.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
    await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: NS }, spec: { namespaces: [NS], allowedHostnames: ['*.failover.test'] } });
    await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.1', capacity: { cpu: '4', memory: '4Gi', disk: '10Gi' } } });
    await clients.app.create(app('web', 2));
    await clients.app.create(app('worker', 1));
    await new KubeClient<Route>(resourceType('Route'), clients.kubeConfig).create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name: 'web', namespace: NS }, spec: { host: HOST, app: 'web' } });
    await waitForServer(processes.get('edge')!, 'its listening line', async () => (/^tend edge: proxy /m.test(readFileSync(edgeLog, 'utf8')) ? true : undefined), 90_000);

    await converged({ web: 2, worker: 1 }, 'the Apps before the failover');
    const before = [...(await instances('web')), ...(await instances('worker'))];
    await eventually(async () => (await through(edgePort)).startsWith(`${NS}.web-`) || undefined, { what: 'web served through the edge' });

    // Writes acknowledged up to the crash: each must be on the new primary.
    const acked: number[] = [];
    let writing = true;
    let stoppedAt = Infinity;
    let storeFirstMs: number | undefined;
    const writer = (async () => {
      for (let n = 1; writing; n++) {
        try {
          await store.query(insertMark, [n]);
          acked.push(n);
          if (storeFirstMs === undefined && Date.now() > stoppedAt) storeFirstMs = Date.now() - stoppedAt;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    })();
    const answers: string[] = [];
    let serving = true;
    const load = (async () => {
      while (serving) answers.push(await through(edgePort));
    })();
    await eventually(() => (acked.length >= 20 ? true : undefined), { what: '20 acknowledged writes' });

    // Measured from the primary's exit: a write in flight when the signal went may still have landed there.
    await pair.crashPrimary();
    stoppedAt = Date.now();
    const ackedAtCrash = acked.length;
    const firsts = watchFirstWrites(stoppedAt);
    await pair.promote();
    const promotedMs = Date.now() - stoppedAt;
    await observer.close();
    observer = observe(pair.urlOn(pair.standby));

    // A change after the switch: only the new primary can carry it.
    await updateSpec(clients.app, `${NS}/web`, (spec) => ({ ...spec, replicas: 3 }));
    await clients.app.create(app('late', 1));
    await converged({ web: 3, worker: 1, late: 1 }, 'the Apps after the failover');
    const web = await instances('web');
    await eventually(async () => {
      const [row] = await observer.query<{ backends: { instance: string }[] }>(backendsOf, [HOST]);
      return JSON.stringify(row?.backends.map((b) => b.instance).sort()) === JSON.stringify(web.map((i) => i.id)) || undefined;
    }, { what: 'the route to all 3 web instances' });
    const times = { ...(await firsts.done()), 'test Store': storeFirstMs };
    serving = false;
    writing = false;
    await Promise.all([load, writer]);

    console.log(
      `PostgreSQL failover: promoted ${promotedMs} ms after the primary's stop; first write on the new primary after the stop: ` +
        Object.entries(times).map(([what, ms]) => `${what} ${ms ?? 'never'} ms`).join(', ') +
        `; ${ackedAtCrash} writes acknowledged before the stop; ${answers.length} requests through the edge, ${answers.filter((a) => !a.startsWith(`${NS}.web-`)).length} failed`,
    );

    for (const [name, p] of processes) expect(p.running, `${name} still the process started`).toBe(true);
    expect(Object.values(times).every((ms) => ms !== undefined), JSON.stringify(times)).toBe(true);
    // Nothing acknowledged before the switch is lost.
    const marks = new Set((await observer.query<{ n: number }>(selectMarks)).map((r) => r.n));
    expect(acked.filter((n) => !marks.has(n))).toEqual([]);
    expect(ackedAtCrash).toBeGreaterThanOrEqual(20);
    const after = [...(await instances('web')), ...(await instances('worker'))];
    expect(before.map((i) => i.id).filter((id) => !after.some((a) => a.id === id))).toEqual([]);
    // The edge answered every request, from before the stop until everything converged after it.
    expect(answers.length).toBeGreaterThan(10);
    expect(answers.filter((a) => !a.startsWith(`${NS}.web-`))).toEqual([]);
  }, 240_000);
});

function app(name: string, replicas: number): App {
  return {
    apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name, namespace: NS },
    spec: { replicas, command: ['node', FIXTURE], resources: { memory: '64Mi', cpu: '50m' }, healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 } },
  };
}

interface InstanceRow { readonly id: string; readonly node: string; readonly desired: string; readonly ready: boolean; readonly port?: number }

async function instances(name: string): Promise<InstanceRow[]> {
  const rows = await observer.query<InstanceRow>(instancesOf, [`${NS}/${name}`]);
  for (const r of await observer.query<{ port: number | null }>(q('ports', 'select port from platform.instances where port is not null'))) instancePorts.add(r.port!);
  return rows;
}

function observe(url: string): Store {
  return new Store({ connectionString: url, logger: createLogger({ level: 'silent' }), poolSize: 2, connectionWaitMs: 2_000 });
}

/** Every App Ready at its generation with as many ready instances as asked, and that many placed. */
async function converged(wanted: Record<string, number>, what: string): Promise<void> {
  await eventually(async () => {
    for (const [name, count] of Object.entries(wanted)) {
      const a = await clients.app.get(`${NS}/${name}` as Key);
      if (findCondition(a?.status?.conditions, 'Ready')?.status !== 'True' || a?.status?.readyReplicas !== count || (a.status.observedGeneration ?? 0) < (a.metadata.generation ?? 1)) return undefined;
      const rows = await instances(name);
      if (rows.length !== count || !rows.every((r) => r.ready)) return undefined;
    }
    return true;
  }, { what, timeoutMs: 90_000 });
}

/** Which instance answered one request through the edge; `status N` or `no answer` otherwise. */
async function through(port: number): Promise<string> {
  const answer = await Promise.race([send(port, HOST, '/env'), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5_000))]).catch(() => undefined);
  if (!answer) return 'no answer';
  return answer.status === 200 ? (JSON.parse(answer.body) as { TEND_INSTANCE: string }).TEND_INSTANCE : `status ${answer.status}`;
}

/**
 * Polls the standby (readable while it recovers, writable once promoted) for the first trace of
 * each process after `since`: the replica's membership heartbeat, the agent's heartbeat, and the
 * edge's first session (it only reads) once the server takes writes.
 */
function watchFirstWrites(since: number): { done(): Promise<Record<string, number | undefined>> } {
  const watcher = observe(pair.urlOn(pair.standby));
  const firsts: Record<string, number | undefined> = { replica: undefined, agent: undefined, edge: undefined };
  const probe = q('firsts', `select
      (select extract(epoch from max(heartbeat_at)) * 1000 from tend.members where name = 'r1') as replica,
      (select extract(epoch from heartbeat_at) * 1000 from platform.node_agents where node = 'n1') as agent,
      (select extract(epoch from min(backend_start)) * 1000 from pg_stat_activity where application_name = 'tend edge' and not pg_is_in_recovery()) as edge`);
  let watching = true;
  const loop = (async () => {
    while (watching) {
      try {
        const [row] = await watcher.query<Record<'replica' | 'agent' | 'edge', string | null>>(probe);
        for (const what of ['replica', 'agent', 'edge'] as const) {
          const at = row![what] === null ? undefined : Number(row![what]);
          if (firsts[what] === undefined && at !== undefined && at > since) firsts[what] = Math.round(at - since);
        }
      } catch {
        // Restarting as a primary: ask again.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async done() {
      await eventually(() => (Object.values(firsts).every((v) => v !== undefined) ? true : undefined), { what: 'a write of every process on the new primary', timeoutMs: 30_000 }).catch(() => undefined);
      watching = false;
      await loop;
      await watcher.close();
      return firsts;
    },
  };
}
