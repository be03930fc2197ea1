/**
 * What instances print, end to end on the cluster backend: controllers in this process, two
 * `tend agent` processes (each with its own login) as two nodes, and an App of two instances —
 * one on each node — that prints, crashes and is restarted. `tend logs` and `tend why` read the
 * lines the agents shipped into PostgreSQL; no node is ever asked.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceType } from '../../../api/resource-types.js';
import type { App } from '../../../api/types/app.js';
import type { Node } from '../../../api/types/node.js';
import type { Tenant } from '../../../api/types/tenant.js';
import type { CliIo } from '../../../cli/io.js';
import { runLogs } from '../../../cli/logs.js';
import { runWhy } from '../../../cli/why.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { KubeClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { freshNamespace, kubeConfig, testEnv } from '../../env/context.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import type { ServerProcess } from '../../env/server-process.js';
import { testShard } from '../../env/shard.js';
import { startTend } from '../../env/tend-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tend-instance-logs-'));
const logger = createLogger({ level: 'warn', destination: pino.destination({ dest: join(dir, 'controllers.log'), sync: true }) });
const databases = new FreshDatabases('logs');
const shard = testShard('logs');
const nodes = ['a', 'b'].map((n) => `logs-${n}-${randomBytes(3).toString('hex')}`);
const apps = new KubeClient<App>(resourceType('App'), kubeConfig());
const stop = new AbortController();
const agents: ServerProcess[] = [];
let store: Store;
let running: Promise<void>;
let url: string;
let ns: string;

// Prints its start, a tick every 100 ms, and its last words on stderr before it exits with 3.
const PRINTER = `const id = process.env.TEND_INSTANCE; let n = 0; console.log('start ' + id);
setInterval(() => console.log('tick ' + (++n)), 100);
setTimeout(() => { console.error('crashing ' + id + ' after ' + n + ' ticks'); process.exit(3); }, 1500);`;

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  running = buildPlatform({ kubeConfig: kubeConfig(), store, logger, replica: 'test', selector: shard.selector, membership: false, cluster: { heartbeatMs: 1_000 } }).start(stop.signal);
  ns = await freshNamespace('logs');
  await new KubeClient<Tenant>(resourceType('Tenant'), kubeConfig()).create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: ns, labels: shard.labels }, spec: { namespaces: [ns] } });
  const nodeClient = new KubeClient<Node>(resourceType('Node'), kubeConfig());
  for (const node of nodes) {
    await nodeClient.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: node, labels: shard.labels }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' } } });
    const credentials = await enrolledCredentials(url, 'node', node, dir);
    agents.push(startTend(`agent ${node}`, ['agent', '--node', node, '--credentials-file', credentials, '--state-dir', join(dir, node), '--heartbeat-ms', '1000', '--poll-ms', '1000', '--crash-backoff-ms', '300', '--log-level', 'warn'], join(dir, `${node}.log`)));
  }
  for (const node of nodes) {
    await eventually(async () => (findCondition((await nodeClient.get(node as Key))?.status?.conditions, 'Ready')?.status === 'True' ? true : undefined), { what: `node ${node} Ready`, timeoutMs: 60_000 });
  }
  await apps.create({
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'App',
    metadata: { name: 'printer', namespace: ns, labels: shard.labels },
    spec: { replicas: 2, command: ['node', '-e', PRINTER], resources: { memory: '64Mi', cpu: '50m' }, placement: { strategy: 'spread' } },
  });
}, 120_000);

afterAll(async () => {
  await apps.delete(`${ns}/printer` as Key).catch(() => {});
  await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.count', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0 ? true : undefined), { what: 'instances gone', timeoutMs: 30_000 }).catch(() => {});
  await Promise.all(agents.map((a) => a.stop()));
  stop.abort();
  await running;
  await store?.close();
  await databases.dropAll();
});

interface Captured {
  code: number;
  out: string[];
  err: string;
}

/** `tend logs ARGS` on the cluster backend, in this process; `signal` ends a -f. */
async function logs(args: readonly string[], signal?: AbortSignal, out: string[] = []): Promise<Captured> {
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: () => '' };
  const code = await runLogs([...args, '-n', ns, '--kubeconfig', testEnv().kubeconfigPath, '--database-url', url], io, {}, signal);
  return { code, out, err: err.join('\n') };
}

interface Placed { id: string; node: string; restarts: number }
const instances = () => store.query<Placed>({ name: 'test.instances', text: `select id, node, restarts from platform.instances where app = $1 and desired = 'running' order by id` }, [`${ns}/printer`]);

/** Both instances placed, on two nodes, each restarted at least once. */
async function restartedTwice(): Promise<Placed[]> {
  return eventually(async () => {
    const placed = await instances();
    if (placed.length !== 2 || !placed.every((i) => i.restarts >= 1)) {
      throw new Error(`instances ${JSON.stringify(placed)}; App status ${JSON.stringify((await apps.get(`${ns}/printer` as Key))?.status)}`);
    }
    return placed;
  }, { what: 'two instances, each restarted', timeoutMs: 45_000 });
}

describe('tend logs of an App that prints, crashes and restarts', () => {
  it('merges the instances on two nodes into one stream, each line prefixed with its instance, in time order', async () => {
    const placed = await restartedTwice();
    expect(new Set(placed.map((i) => i.node))).toEqual(new Set(nodes));
    const result = await eventually(async () => {
      const r = await logs(['app/printer', '--timestamps']);
      for (const i of placed) expect(r.out.some((l) => l.startsWith(`[${i.id}] `) && l.endsWith(`start ${i.id}`))).toBe(true);
      return r;
    }, { what: 'lines of both instances' });
    expect(result.code).toBe(0);
    const times = result.out.map((l) => Date.parse(/^\[\S+\] (\S+) /.exec(l)![1]!));
    expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);
    expect(result.out.every((l) => /^\[\S+\] \d{4}-\d\d-\d\dT\S+Z (start|tick|crashing) /.test(l))).toBe(true);
  });

  it('shows one instance, and --previous shows the run before its last restart, ending with the line it crashed with', async () => {
    const [first] = await restartedTwice();
    // No prefix, the current run from its first line (once it has printed one).
    const own = await eventually(async () => {
      const r = await logs([`instance/${first!.id}`]);
      expect(r.out[0]).toBe(`start ${first!.id}`);
      return r;
    }, { what: 'the current run of one instance' });
    expect(own.code).toBe(0);
    // Once the restart's first chunk is shipped (its agent reports the restart at about the same time).
    const previous = await eventually(async () => {
      const r = await logs([`instance/${first!.id}`, '--previous']);
      expect(r.code).toBe(0);
      return r;
    }, { what: 'a previous run' });
    expect(previous.out[0]).toBe(`start ${first!.id}`);
    expect(previous.out.at(-1)).toMatch(new RegExp(`^crashing ${first!.id.replaceAll('.', '\\.')} after \\d+ ticks$`));
    expect(previous.out.filter((l) => l.startsWith('start '))).toHaveLength(1); // one run, not two
    // Of whichever run is the previous one by now: its last two lines.
    const tail = await logs([`instance/${first!.id}`, '--previous', '--tail', '2']);
    expect(tail.out).toHaveLength(2);
    expect(tail.out[0]).toMatch(/^tick \d+$/);
    expect(tail.out[1]).toMatch(/^crashing \S+ after \d+ ticks$/);
    expect((await logs(['app/printer', '--since', '1h'])).out.length).toBeGreaterThan(0);
    // The previous run ended a restart backoff ago: none of its lines is from the last millisecond.
    expect(await logs([`instance/${first!.id}`, '--previous', '--since', '1ms'])).toMatchObject({ code: 0, out: [] });
  });

  it('follows: a new line arrives, the lines of a restart too', async () => {
    const [first] = await restartedTwice();
    const follow = new AbortController();
    const out: string[] = [];
    const done = logs([`instance/${first!.id}`, '-f', '--tail', '0'], follow.signal, out);
    try {
      await eventually(() => expect(out.length).toBeGreaterThan(0), { what: 'a new line through -f', timeoutMs: 10_000 });
      await eventually(() => expect(out).toContain(`start ${first!.id}`), { what: 'the next run through -f', timeoutMs: 20_000 });
    } finally {
      follow.abort();
    }
    expect((await done).code).toBe(0);
  });

  it('tend why app/NAME ends with the last lines of an instance that is not ready', async () => {
    await restartedTwice();
    const why = await eventually(async () => {
      const out: string[] = [];
      const io: CliIo = { out: (l) => out.push(l), err: () => {}, readStdin: () => '' };
      await runWhy(['app/printer', '-n', ns, '--kubeconfig', testEnv().kubeconfigPath, '--database-url', url], io, {});
      const text = out.join('\n');
      expect(text).toMatch(/\nLast output of instance \S+ \(not ready, \d+ restarts?; more: tend logs instance\/\S+, --previous/);
      return out;
    }, { what: 'tend why with the output of a crashed instance', timeoutMs: 30_000 });
    const section = why.slice(why.findIndex((l) => l.startsWith('Last output of instance')) + 1);
    expect(section.length).toBeGreaterThan(0);
    expect(section.length).toBeLessThanOrEqual(5);
    expect(section.every((l) => /^ {2}\d{4}-\S+Z (start|tick|crashing) /.test(l))).toBe(true);
  });

  it('says what does not exist, and which flags belong to which logs', async () => {
    const missing = await logs(['app/nothing']);
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(`tend: apps.tend.dev "nothing" not found in namespace ${ns}`);
    expect((await logs(['instance/no-such-instance'])).err).toMatch(/^tend: instance "no-such-instance" not found in namespace/);
    await expect(logs(['app/printer', '--controller', 'app'])).rejects.toThrow(/--controller is for the reconcile journal/);
    await expect(logs(['--journal', 'app/printer', '--previous'])).rejects.toThrow(/--previous is for what instances print/);
    // On a cluster the lines are in tend's PostgreSQL, which --kubeconfig alone does not name.
    const io: CliIo = { out: () => {}, err: () => {}, readStdin: () => '' };
    await expect(runLogs(['app/printer', '-n', ns, '--kubeconfig', testEnv().kubeconfigPath], io, {})).rejects.toThrow(/kept in tend's PostgreSQL: pass --database-url too/);
  });
});
