/**
 * The instance sandbox against a hostile App, with real processes: a `tend agent` (its database
 * URL in argv and environment, as an operator would start it) runs a hostile instance next to a
 * normal App with a volume and a memory hog. The hostile instance tries every escape it knows and
 * reports over HTTP. Sandboxed, every attempt fails while the normal App runs, is health-checked,
 * writes its volume and the hog is OOM-killed; the same probes on an agent with `--sandbox off`
 * succeed, which shows they are real.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceRecord } from '../../../../agents/node/runtime/state-dir.js';
import { volumeDir } from '../../../../agents/node/volumes/volume-sync.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { REPO_ROOT } from '../../../env/environment.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';
import { ServerProcess } from '../../../env/server-process.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('sandbox');
const fixtures = join(REPO_ROOT, 'test/fixtures/instances');
const MiB = 2 ** 20;
const isRoot = process.getuid?.() === 0;
let databaseUrl: string;
let store: Store;
let root: string;
const agents: ServerProcess[] = [];

beforeAll(async () => {
  databaseUrl = await databases.create();
  store = new Store({ connectionString: databaseUrl, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  root = mkdtempSync(join(tmpdir(), 'tend-sandbox-'));
});

afterAll(async () => {
  // Rows gone: the agents stop every instance (and its namespace) before they stop themselves.
  await store?.query({ name: 'test.delete_instances', text: 'delete from platform.instances' }).catch(() => {});
  await eventually(() => expect(processesWithEnv('TEND_INSTANCE=')).toEqual([]), { what: 'every instance stopped', timeoutMs: 30_000 }).catch(() => {});
  await Promise.all(agents.map((a) => a.stop()));
  for (const pid of processesWithEnv('TEND_INSTANCE=')) killQuietly(pid);
  await store?.close();
  await databases.dropAll();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Live processes whose environment has an entry starting with `prefix` and belonging to this test's instances. */
function processesWithEnv(prefix: string, exact = false): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const entries = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      if (entries.some((e) => (exact ? e === prefix : e.startsWith(prefix) && e.includes('.sbx-')))) pids.push(Number(name));
    } catch {
      // gone, or a kernel thread
    }
  }
  return pids;
}

function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

interface Row { id: string; port: number | null; phase: string | null; ready: boolean; restarts: number; lastExit: { reason: string; message?: string } | null }

async function isolationOf(node: string): Promise<{ isolated: boolean; message: string } | undefined> {
  const [r] = await store.query<{ isolated: boolean; message: string }>({ name: 'test.sandbox_isolation', text: 'select isolated, isolation_message as message from platform.node_agents where node = $1' }, [node]);
  return r;
}

async function row(id: string): Promise<Row | undefined> {
  const [r] = await store.query<Row>({ name: 'test.sandbox_instance', text: 'select id, port, phase, ready, restarts, last_exit as "lastExit" from platform.instances where id = $1' }, [id]);
  return r;
}

/** One node with its agent, a normal App with a volume, a hostile App with its own volume and a memory hog. */
async function startNode(node: string, sandbox: 'auto' | 'off') {
  const stateDir = join(root, `agent-${node}`);
  await store.query(
    { name: 'test.sandbox_node', text: `insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu, disk) values ($1, 'uid-' || $1, 1, 'ready', $2, 4000, $2)` },
    [node, 2 ** 34],
  );
  const neighbourVolume = `acme-${node}/data`;
  const ownVolume = `evil-${node}/own`;
  for (const [key, tenant] of [[neighbourVolume, 'acme'], [ownVolume, 'evil']] as const) {
    await store.query(
      { name: 'test.sandbox_volume', text: `insert into platform.volumes (key, uid, tenant, size, node, bound_at) values ($1, 'uid-' || $1, $2, $3, $4, now())` },
      [key, tenant, 64 * MiB, node],
    );
  }
  const ids = { neighbour: `acme.web-${node}.sbx-1`, hostile: `evil.web-${node}.sbx-1`, hog: `acme.hog-${node}.sbx-1` };
  const instance = async (id: string, tenant: string, memory: number, spec: object) => {
    await store.query(
      { name: 'test.sandbox_instance_insert', text: `insert into platform.instances (id, app, tenant, revision, node, memory, cpu, spec) values ($1, $2, $3, 'r1', $4, $5, 100, $6::jsonb)` },
      [id, `${tenant}/${id}`, tenant, node, memory, JSON.stringify(spec)],
    );
  };
  await instance(ids.neighbour, 'acme', 128 * MiB, {
    command: ['node', join(fixtures, 'http-instance.mjs')],
    env: { GREETING: 'neighbour', SECRET_TOKEN: 's3cr3t-of-acme' },
    healthCheck: { path: '/healthz', periodSeconds: 1 },
    volumes: [{ volume: neighbourVolume, mountPath: '/data' }],
  });
  await instance(ids.hostile, 'evil', 512 * MiB, { // room for the fork bomb's 200 sleeps without a sandbox (RSS polling counts them)
    command: ['node', join(fixtures, 'hostile-instance.mjs')],
    healthCheck: { path: '/healthz', periodSeconds: 1 },
    volumes: [{ volume: ownVolume, mountPath: '/own' }],
  });
  await instance(ids.hog, 'acme', 64 * MiB, { command: ['node', join(fixtures, 'http-instance.mjs')], env: { ALLOCATE_MIB: '300' } });

  const start = () => {
    const agent = ServerProcess.start({
      name: `agent-${node}`,
      command: process.execPath,
      args: [
        '--import', pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href, join(REPO_ROOT, 'cli/main.ts'),
        'agent', '--node', node, '--database-url', databaseUrl, '--state-dir', stateDir, '--sandbox', sandbox,
        '--heartbeat-ms', '1000', '--poll-ms', '500', '--crash-backoff-ms', '500', '--instance-max-processes', '128',
      ],
      env: { ...process.env, DATABASE_URL: databaseUrl },
      cwd: REPO_ROOT,
      logFile: join(root, `agent-${node}.log`),
    });
    agents.push(agent);
    return agent;
  };
  let agent = start();
  for (const id of [ids.neighbour, ids.hostile]) {
    await eventually(async () => {
      const r = await row(id);
      if (r?.phase !== 'running' || !r.ready) throw new Error(`row ${JSON.stringify(r)}`);
      return r;
    }, { what: `${id} ready`, timeoutMs: 60_000 });
  }
  const restart = async () => {
    await agent.stop();
    agent = start();
  };
  return { node, stateDir, ids, restart, instance, neighbourVolumeDir: volumeDir(stateDir, neighbourVolume), ownVolumeDir: volumeDir(stateDir, ownVolume) };
}

type Probe = { ok: boolean; detail: string };
type Probes = Record<string, Probe>;

async function probe(scene: Awaited<ReturnType<typeof startNode>>, hostFile: string): Promise<{ probes: Probes; neighbourPids: number[] }> {
  writeFileSync(join(scene.neighbourVolumeDir, 'secret.txt'), 'acme volume secret');
  const neighbourPids = processesWithEnv(`TEND_INSTANCE=${scene.ids.neighbour}`, true);
  expect(neighbourPids.length).toBeGreaterThan(0);
  const targets = { agentStateDir: scene.stateDir, neighbourVolume: scene.neighbourVolumeDir, neighbourLog: join(scene.stateDir, `${scene.ids.neighbour}.log`), neighbourPids, hostFile };
  const port = (await row(scene.ids.hostile))!.port!;
  const res = await fetch(`http://127.0.0.1:${port}/probe?targets=${encodeURIComponent(JSON.stringify(targets))}`, { signal: AbortSignal.timeout(15_000) });
  expect(res.status).toBe(200);
  return { probes: (await res.json()) as Probes, neighbourPids };
}

const ESCAPES = ['agentEnviron', 'agentCmdline', 'otherProcesses', 'agentState', 'neighbourVolume', 'neighbourVolumeWrite', 'neighbourLog', 'ownMemoryLimit', 'hostWrite', 'killNeighbour', 'postgres', 'forkBomb'] as const;
const table: Record<string, { without?: string; with?: string }> = {};

function note(column: 'without' | 'with', probes: Probes): void {
  for (const [name, p] of Object.entries(probes)) (table[name] ??= {})[column] = `${p.ok ? 'GOT IT' : 'failed'}: ${p.detail.slice(0, 60)}`;
}

describe.runIf(isRoot)('the instance sandbox, tried by a hostile App', () => {
  afterAll(() => {
    // The before/after table for the record (printed once both scenes ran).
    const lines = Object.entries(table).map(([name, t]) => `${name.padEnd(22)} | ${(t.without ?? '').padEnd(70)} | ${t.with ?? ''}`);
    console.log(['probe                  | without sandbox'.padEnd(97) + ' | with sandbox', ...lines].join('\n'));
  });

  it('without a sandbox (--sandbox off) the hostile instance gets everything it tries: the probes are real', async () => {
    const hostFile = join('/var/tmp', `tend-hostile-${process.pid}-plain`);
    try {
      const scene = await startNode('plain', 'off');
      const { probes } = await probe(scene, hostFile);
      note('without', probes);
      for (const name of ESCAPES) expect({ name, ...probes[name] }).toMatchObject({ name, ok: true });
      expect(readFileSync(hostFile, 'utf8')).toBe('hostile');
      // And the agent says so: the Node's Isolated=False, and the scheduler keeps Apps off it.
      expect(await isolationOf('plain')).toEqual({ isolated: false, message: expect.stringMatching(/^sandboxing is turned off/) });
    } finally {
      rmSync(hostFile, { force: true });
      rmSync('/tmp/hostile-tmp.txt', { force: true }); // its /tmp was the host's
    }
  });

  it('sandboxed, every escape fails, while a normal App runs, is health-checked and writes its volume, and a hog is OOM-killed', async () => {
    const hostFile = join('/var/tmp', `tend-hostile-${process.pid}-sandboxed`);
    rmSync('/tmp/hostile-tmp.txt', { force: true });
    const scene = await startNode('sandboxed', 'auto');
    const { probes, neighbourPids } = await probe(scene, hostFile);
    note('with', probes);
    expect(await isolationOf('sandboxed')).toEqual({ isolated: true, message: expect.stringMatching(/own mount, PID, IPC, UTS and cgroup namespaces/) });

    for (const name of ESCAPES) expect({ name, ...probes[name] }).toMatchObject({ name, ok: false });
    // Its parent is the sandbox's init (pid 1, root, an empty environment); the agent is outside its PID namespace.
    expect(probes.agentEnviron!.detail).toBe('EACCES');
    expect(probes.agentCmdline!.detail).toBe('NOTAGENT');
    expect(probes.agentState!.detail).toBe('ENOENT'); // the state folder is an empty tmpfs
    expect(probes.neighbourVolume!.detail).toBe('ENOENT');
    expect(probes.neighbourLog!.detail).toBe('ENOENT');
    expect(probes.hostWrite!.detail).toBe('EROFS');
    expect(probes.killNeighbour!.detail).toBe('ESRCH');
    expect(probes.postgres!.detail).toBe('no credentials found');
    expect(existsSync(hostFile)).toBe(false);
    expect(existsSync(join(scene.neighbourVolumeDir, 'hostile.txt'))).toBe(false);
    // What is its own still works: its volume (chowned to its uid) and a private /tmp.
    expect(probes.ownVolumeWrite).toEqual({ ok: true, detail: 'mine' });
    expect(probes.ownTmpWrite).toMatchObject({ ok: true });
    expect(probes.volumesInView).toEqual({ ok: true, detail: 'evil-sandboxed/own' }); // under /mnt/volumes: its own, no other
    expect(existsSync('/tmp/hostile-tmp.txt')).toBe(false);

    // The neighbour survived and is still answering its health checks.
    for (const pid of neighbourPids) expect(() => process.kill(pid, 0)).not.toThrow();
    expect(await row(scene.ids.neighbour)).toMatchObject({ phase: 'running', ready: true, restarts: 0 });
    const neighbourPort = (await row(scene.ids.neighbour))!.port!;
    expect(await (await fetch(`http://127.0.0.1:${neighbourPort}/env`)).json()).toMatchObject({ GREETING: 'neighbour', TEND_INSTANCE: scene.ids.neighbour });

    // Each instance is its own unprivileged uid; the files it cannot change stay root's.
    const [hostilePid] = processesWithEnv(`TEND_INSTANCE=${scene.ids.hostile}`, true);
    const hostileUid = uidOf(hostilePid!);
    const neighbourUid = uidOf(neighbourPids[0]!);
    expect(hostileUid).toBeGreaterThanOrEqual(900_000);
    expect(neighbourUid).toBeGreaterThanOrEqual(900_000);
    expect(hostileUid).not.toBe(neighbourUid);
    expect(statSync(scene.ownVolumeDir).uid).toBe(hostileUid);
    expect(statSync(scene.neighbourVolumeDir).uid).toBe(neighbourUid);
    expect(statSync(join(scene.stateDir, `${scene.ids.hostile}.log`)).uid).toBe(0);
    expect(statSync(scene.stateDir).mode & 0o777).toBe(0o700);
    // Exactly the spec's environment plus what tend documents, nothing of the agent's.
    const environ = readFileSync(`/proc/${neighbourPids[0]}/environ`, 'utf8').split('\0').filter(Boolean).map((e) => e.slice(0, e.indexOf('='))).sort();
    expect(environ).toEqual(['GREETING', 'PATH', 'PORT', 'SECRET_TOKEN', 'TEND_INSTANCE', 'TEND_VOLUME_DATA'].sort());

    // The hog goes over its 64Mi and is killed for it, as without a sandbox.
    const hog = await eventually(async () => {
      const r = await row(scene.ids.hog);
      expect(r?.lastExit?.reason).toBe('OOMKilled');
      return r!;
    }, { what: 'the hog OOM-killed', timeoutMs: 30_000 });
    expect(hog.lastExit?.message).toMatch(/64Mi memory limit/);

    // An agent restart adopts the instances with their uids (recorded in their state files).
    const record = JSON.parse(readFileSync(join(scene.stateDir, `${scene.ids.hostile}.instance.json`), 'utf8')) as InstanceRecord;
    expect(record.uid).toBe(hostileUid);
    await scene.restart();
    await eventually(async () => expect(await row(scene.ids.hostile)).toMatchObject({ phase: 'running', ready: true, restarts: 0 }), { what: 'hostile adopted', timeoutMs: 30_000 });
    expect(processesWithEnv(`TEND_INSTANCE=${scene.ids.hostile}`, true)).toEqual([hostilePid]);
    // A new instance after the restart gets a uid that none of the adopted ones has.
    const fresh = `acme.fresh-sandboxed.sbx-1`;
    await scene.instance(fresh, 'acme', 128 * MiB, { command: ['node', join(fixtures, 'http-instance.mjs')], healthCheck: { path: '/healthz', periodSeconds: 1 } });
    await eventually(async () => expect(await row(fresh)).toMatchObject({ phase: 'running', ready: true }), { what: 'a fresh instance ready', timeoutMs: 30_000 });
    const [freshPid] = processesWithEnv(`TEND_INSTANCE=${fresh}`, true);
    expect([hostileUid, neighbourUid]).not.toContain(uidOf(freshPid!));
  });
});
