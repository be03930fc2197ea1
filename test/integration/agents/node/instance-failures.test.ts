/**
 * One instance a node cannot run stalls nothing else on that node. A real `tend agent` process,
 * logged in as its node's own PostgreSQL role, is given instances it must refuse next to good
 * ones: before, the first bad one threw out of the agent's pass on every pass, so it showed
 * "starting" forever and no instance after it was ever reported.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { enrolledCredentials } from '../../../env/enroll.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';
import type { ServerProcess } from '../../../env/server-process.js';
import { startTend } from '../../../env/tend-process.js';

const NODE = 'n1';
const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('instance_failures');
let dir: string;
let store: Store;
let agent: ServerProcess | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tend-instance-failures-'));
  const databaseUrl = await databases.create();
  store = new Store({ connectionString: databaseUrl, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  await store.query({ name: 'test.insert_node', text: `insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu) values ($1, 'uid', 1, 'ready', $2, 4000)` }, [NODE, 2 ** 32]);
  const credentials = await enrolledCredentials(databaseUrl, 'node', NODE, dir);
  agent = startTend('agent-n1', ['agent', '--node', NODE, '--credentials-file', credentials, '--state-dir', join(dir, 'agent'), '--heartbeat-ms', '500', '--poll-ms', '300', '--crash-backoff-ms', '120000'], join(dir, 'agent.log'));
}, 60_000);

afterAll(async () => {
  await store?.query({ name: 'test.stop_all', text: `update platform.instances set desired = 'stopped'` }).catch(() => {});
  if (store) await eventually(async () => ((await rows()).every((r) => r.phase === 'stopped') ? true : undefined), { what: 'every instance stopped', timeoutMs: 30_000 }).catch(() => {});
  await agent?.stop();
  await store?.close();
  await databases.dropAll();
  if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

interface Row { id: string; phase: string | null; ready: boolean; reason: string | null; message: string | null; observed_at: Date | null; last_exit: unknown }
const rows = () => store.query<Row>({ name: 'test.instance_rows', text: 'select id, phase, ready, reason, message, observed_at, last_exit from platform.instances order by id' });
const row = async (id: string) => (await rows()).find((r) => r.id === id);

const HELLO = { command: [process.execPath, 'examples/hello-server.mjs'], env: {}, healthCheck: { path: '/healthz', periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3 } };
async function place(id: string, spec: Record<string, unknown>, memory = 64 * 2 ** 20): Promise<void> {
  await store.query(
    { name: 'test.place', text: `insert into platform.instances (id, app, tenant, revision, node, memory, cpu, spec) values ($1, 'acme/' || $1, 'acme', 'r1', $2, $3, 100, $4::jsonb)` },
    [id, NODE, memory, JSON.stringify(spec)],
  );
}

describe('a node agent given instances it cannot run', () => {
  it('reports each refused instance failed with its reason, and runs and reports the good ones next to them', async () => {
    await place('acme.image-0', { command: ['serve'], image: 'ghcr.io/acme/web:1', env: {} });
    await place('acme.empty-0', { command: [''], env: {} });
    await place('acme.tiny-0', HELLO, 0);
    // Passes refusalOf; the runtime itself throws on it (ids must be lower case): the agent's per-instance guard.
    await place('acme.UPPER-0', HELLO);
    await place('acme.good-0', HELLO);

    const settled = await eventually(async () => {
      const all = await rows();
      return all.every((r) => (r.id === 'acme.good-0' ? r.ready : r.phase === 'failed')) ? all : undefined;
    }, { what: 'the good instance ready and every bad one failed', timeoutMs: 45_000 });
    const byId = Object.fromEntries(settled.map((r) => [r.id, r]));
    expect(byId['acme.image-0']).toMatchObject({ reason: 'RuntimeUnavailable', message: expect.stringContaining('no runtime here runs images') });
    expect(byId['acme.empty-0']).toMatchObject({ reason: 'InvalidCommand', message: 'command[0] is empty: it must name a program' });
    expect(byId['acme.tiny-0']).toMatchObject({ reason: 'InvalidSpec', message: expect.stringContaining('memory limit 0 bytes') });
    expect(byId['acme.UPPER-0']).toMatchObject({ reason: 'InvalidSpec', message: expect.stringContaining('the runtime could not start it') });
    expect(byId['acme.good-0']).toMatchObject({ phase: 'running', reason: null, message: null });
    const log = readFileSync(join(dir, 'agent.log'), 'utf8');
    expect(log).toContain('"instance":"acme.UPPER-0"');
    expect(log).not.toContain('agent pass failed');

    // An instance placed after the bad ones is started and reported too.
    await place('acme.later-0', HELLO);
    await eventually(async () => ((await row('acme.later-0'))?.ready ? true : undefined), { what: 'a later instance ready', timeoutMs: 30_000 });
  }, 90_000);

  it('writes nothing in steady state, a crashed instance waiting in backoff included', async () => {
    await place('acme.crash-0', { command: [process.execPath, '-e', 'process.exit(3)'], env: {} });
    await eventually(async () => ((await row('acme.crash-0'))?.phase === 'backoff' ? true : undefined), { what: 'the crashed instance in backoff', timeoutMs: 30_000 });
    expect((await row('acme.crash-0'))?.last_exit).toMatchObject({ code: 3, reason: 'Error' });
    const before = await rows();
    // Ten full reads of the node (--poll-ms 300) later, not one row was written again.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await rows()).map((r) => [r.id, r.observed_at?.getTime()])).toEqual(before.map((r) => [r.id, r.observed_at?.getTime()]));
  }, 60_000);

  it('keeps heartbeating and starting others while an instance takes its grace period to stop', async () => {
    // Ignores SIGTERM, so stopping it takes the whole 10 s grace before SIGKILL. Before, the pass
    // waited for it with the heartbeat in the same loop: 200 such stops made the node lost, and its
    // instances were replaced (placed again and again: about 1,200 for an App of 200).
    await place('acme.stubborn-0', { command: [process.execPath, '-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], env: {} });
    await eventually(async () => ((await row('acme.stubborn-0'))?.phase === 'running' ? true : undefined), { what: 'the stubborn instance running', timeoutMs: 30_000 });
    await store.query({ name: 'test.stop_one', text: `update platform.instances set desired = 'stopped' where id = 'acme.stubborn-0'` });
    await eventually(async () => ((await row('acme.stubborn-0'))?.phase === 'stopping' ? true : undefined), { what: 'the stubborn instance stopping', timeoutMs: 30_000 });
    await place('acme.meanwhile-0', HELLO);
    const beats = new Set<number>();
    let stubbornWhenStarted: string | null | undefined;
    await eventually(async () => {
      const [beat] = await store.query<{ at: Date }>({ name: 'test.beat', text: `select heartbeat_at as at from platform.node_agents where node = $1` }, [NODE]);
      beats.add(beat!.at.getTime());
      const [meanwhile, stubborn] = [await row('acme.meanwhile-0'), await row('acme.stubborn-0')];
      if (meanwhile?.phase === 'running' && stubbornWhenStarted === undefined) stubbornWhenStarted = stubborn?.phase;
      return meanwhile?.ready ? true : undefined;
    }, { what: 'an instance placed meanwhile ready', timeoutMs: 30_000 });
    expect(stubbornWhenStarted).toBe('stopping'); // started while the other was still in its grace period
    // --heartbeat-ms 500: a heartbeat at least every ~2 s throughout, though a stop is in progress.
    const times = [...beats].sort((a, b) => a - b);
    expect(times.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...times.slice(1).map((t, i) => t - times[i]!))).toBeLessThan(2_000);
    await eventually(async () => ((await row('acme.stubborn-0'))?.phase === 'stopped' ? true : undefined), { what: 'the stubborn instance stopped after its grace', timeoutMs: 30_000 });
  }, 90_000);
});
