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
import { runRollout } from '../../../cli/rollout.js';
import { runWhy } from '../../../cli/why.js';
import { buildPlatform, platformClients } from '../../../controllers/platform.js';
import { PostgresClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import { send } from '../../env/http-request.js';
import { freePort } from '../../env/ports.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';
import { updateSpec } from '../../env/update-spec.js';

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
let edge: ServerProcess;
let edgePort: number;

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  clients = platformClients((type) => new PostgresClient(type, store, { listenUrl: url, admit }));
  // A pool of its own: the manager closes its store when it stops.
  const own = new Store({ connectionString: url, logger });
  running = buildPlatform({ store: own, logger, replica: 'test', membership: false, cluster: { heartbeatMs: HEARTBEAT_MS, lostGraceMs: 2_000 } }).start(stop.signal);
  await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['default'], allowedHostnames: ['*.acme.test'] } });
  await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' } } });
  agent = startTend('agent-n1', ['agent', '--node', 'n1', '--database-url', url, '--state-dir', join(dir, 'agent-n1'), '--heartbeat-ms', String(HEARTBEAT_MS), '--poll-ms', '500', '--crash-backoff-ms', '300'], join(dir, 'agent-n1.log'));
  edgePort = await freePort();
  edge = startTend('edge', ['edge', '--listen', `127.0.0.1:${edgePort}`, '--database-url', url, '--check-ms', '1000', '--log-level', 'warn'], join(dir, 'edge.log'));
  await eventually(async () => (findCondition((await clients.node.get('n1' as Key))?.status?.conditions, 'Ready')?.status === 'True' ? true : undefined), { what: 'node n1 Ready', timeoutMs: 30_000 });
}, 120_000);

afterAll(async () => {
  for (const app of (await clients?.app.list())?.items ?? []) await clients.app.delete(`${app.metadata.namespace}/${app.metadata.name}` as Key);
  await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.count_instances', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0 ? true : undefined), { what: 'every instance gone', timeoutMs: 30_000 }).catch(() => {});
  await Promise.all([agent?.stop(), edge?.stop()]);
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

/** One request through the edge: its status, 0 when the edge did not answer. */
const viaEdge = async (host: string) => (await send(edgePort, host, '/').catch(() => ({ status: 0 }))).status;

/** Requests `host` in a loop until `during` settles; every status seen. */
async function loadWhile(host: string, during: Promise<unknown>): Promise<number[]> {
  const statuses: number[] = [];
  let finished = false;
  const finish = () => {
    finished = true;
  };
  during.then(finish, finish);
  while (!finished) statuses.push(await viaEdge(host));
  await during;
  return statuses;
}

const runningOf = (app: string) =>
  store.query<{ id: string; revision: string; ready: boolean }>({ name: 'test.running_revisions', text: `select id, revision, ready from platform.instances where app = $1 and desired = 'running' order by id` }, [app]);

async function update(name: string, change: (spec: NonNullable<App['spec']>) => NonNullable<App['spec']>): Promise<void> {
  await updateSpec(clients.app, `default/${name}`, change);
}

/** The App Ready and its rollout complete on one revision (`revision`, or any other than `not`), every replica ready, and that revision recorded available. */
async function settledOn(name: string, replicas: number, want: { revision?: string; not?: string } = {}): Promise<string> {
  return eventually(async () => {
    const app = await clients.app.get(`default/${name}` as Key);
    const live = await runningOf(`default/${name}`);
    const revision = app?.status?.revision;
    if (!revision || (want.revision && revision !== want.revision) || revision === want.not) return undefined;
    // RolloutComplete once the old revision's instances are gone, a moment after the new ones are ready.
    const ok = findCondition(app?.status?.conditions, 'Ready')?.status === 'True' && findCondition(app?.status?.conditions, 'Progressing')?.reason === 'RolloutComplete' && app?.status?.observedGeneration === app?.metadata.generation && live.length === replicas && live.every((i) => i.ready && i.revision === app?.status?.revision);
    const available = await store.query({ name: 'test.revision_available', text: 'select 1 from platform.app_revisions where app = $1 and revision = $2 and available_at is not null' }, [`default/${name}`, app?.status?.revision]);
    return ok && available.length === 1 ? app!.status!.revision! : undefined;
  }, { what: `${name} settled`, timeoutMs: 60_000 });
}

describe('spec.rollout.autoRollback', () => {
  it('returns a broken revision to the last available one while the old instances serve every request, and says what happened', async () => {
    await clients.app.create(hello('web', 2, { rollout: { autoRollback: true, maxSurge: 1, maxUnavailable: 0 } }));
    await clients.route.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name: 'web', namespace: 'default' }, spec: { host: 'web.acme.test', app: 'web' } });
    const good = await settledOn('web', 2);
    await eventually(async () => ((await viaEdge('web.acme.test')) === 200 ? true : undefined), { what: 'web served through the edge', timeoutMs: 30_000 });
    const old = (await runningOf('default/web')).map((i) => i.id);

    let broken = '';
    const statuses = await loadWhile('web.acme.test', (async () => {
      await update('web', (spec) => ({ ...spec, command: ['node', '-e', 'console.log("v2 starting"); process.exit(3)'] }));
      const rolledBack = await condition('web', 'Progressing', 'False', 'RolledBack');
      broken = /^revision (\w+) failed/.exec(rolledBack.message)?.[1] ?? '';
      // The broken instance stopped and forgotten: only the old ones run.
      await eventually(async () => {
        const live = await runningOf('default/web');
        return live.length === 2 && live.every((i) => i.revision === good && i.ready) && (await store.query({ name: 'test.any_broken', text: 'select 1 from platform.instances where app = $1 and revision = $2' }, ['default/web', broken])).length === 0 ? true : undefined;
      }, { what: 'broken instance gone', timeoutMs: 30_000 });
    })());
    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect((await runningOf('default/web')).map((i) => i.id)).toEqual(old);

    const app = (await clients.app.get('default/web' as Key))!;
    expect(broken).not.toBe(good);
    expect(app.status?.revision).toBe(good);
    const progressing = findCondition(app.status?.conditions, 'Progressing')!;
    expect(progressing.message).toMatch(new RegExp(`^revision ${broken} failed \\(1 instance in CrashLoopBackOff: default\\.web-${broken}-\\S+ on n1: [3-9] restarts, last exit Error \\(code 3\\) at \\S+Z, next restart at \\S+Z\\); running ${good}$`));
    expect(findCondition(app.status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'RolledBack', message: progressing.message });
    // The spec is the user's: still the broken command (Argo CD sees no drift).
    expect(app.spec?.command).toEqual(['node', '-e', 'console.log("v2 starting"); process.exit(3)']);

    const why = await tend(runWhy, 'app/web');
    expect(why.out[0]).toBe(`App default/web is not Ready: Progressing=False RolledBack: ${progressing.message}.`);
    const revisions = why.out.join('\n');
    expect(revisions).toMatch(new RegExp(`Revisions \\(the newest 2 of 2; tend rollout history app/web\\):\n\\s+REVISION.*\n\\s+1\\s+${good}\\s+\\S+Z\\s+\\S+Z\\s+current\n\\s+2\\s+${broken}\\s+\\S+Z\\s+-\\s+spec; failed at generation 2 \\(1 instance in CrashLoopBackOff: .*\\), rolled back to ${good}`));
  });

  it('rolls out the next change of the spec, and tend rollout undo to an older revision rolls out as any change does', async () => {
    const good = (await clients.app.get('default/web' as Key))!.status!.revision!;
    await update('web', (spec) => ({ ...spec, command: ['node', 'examples/hello-server.mjs'], env: [{ name: 'VERSION', value: '3' }] }));
    const third = await settledOn('web', 2, { not: good });
    expect(third).not.toBe(good);
    expect(findCondition((await clients.app.get('default/web' as Key))?.status?.conditions, 'Progressing')?.reason).toBe('RolloutComplete');

    const statuses = await loadWhile('web.acme.test', (async () => {
      const undone = await tend(runRollout, 'undo', 'app/web', '--to-revision', '1');
      expect(undone).toEqual({ code: 0, out: [`app.tend.dev/web rolled back to revision 1 (${good})`] });
      await settledOn('web', 2, { revision: good });
    })());
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const app = (await clients.app.get('default/web' as Key))!;
    expect(app.spec?.env).toBeUndefined();
    expect(findCondition(app.status?.conditions, 'Progressing')).toMatchObject({ status: 'True', reason: 'RolloutComplete' });

    const history = await tend(runRollout, 'history', 'app/web');
    expect(history.out[0]).toBe('app.tend.dev/web');
    expect(history.out.slice(2).map((l) => l.trim().split(/\s+/).slice(0, 2))).toEqual([['2', expect.any(String)], ['3', third], ['4', good]]);
    expect(history.out.at(-1)).toMatch(/current$/);
  });
});
