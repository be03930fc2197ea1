import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessRuntime, specHash, type InstanceSpec, type InstanceStatus, type LogChunk, type ProcessRuntimeOptions } from '../../../../../agents/node/runtime/index.js';
import { readProcStat } from '../../../../../agents/node/runtime/procfs.js';
import { eventually } from '../../../../env/eventually.js';
import { freePort } from '../../../../env/ports.js';

const fixture = fileURLToPath(new URL('../../../../fixtures/instances/http-instance.mjs', import.meta.url));
const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });

const runtimes: ProcessRuntime[] = [];
const stateDirs = new WeakMap<ProcessRuntime, string>();
const usedIds: string[] = [];
let counter = 0;

afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.close({ stopInstances: true })));
  // Safety net for a failed test: nothing started here may outlive it.
  for (const id of usedIds.splice(0)) for (const pid of processesOf(id)) killQuietly(pid);
});

function newRuntime(options: Partial<ProcessRuntimeOptions> = {}): ProcessRuntime {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'tend-runtime-'));
  const runtime = new ProcessRuntime({ logger, pollIntervalMs: 50, crashBackoff: { baseMs: 100, maxMs: 400 }, ...options, stateDir });
  runtimes.push(runtime);
  stateDirs.set(runtime, stateDir);
  return runtime;
}

const LIMITS = { perInstanceBytes: 1 << 20, totalBytes: 1 << 22 };

/** The text of each run, in the order the runs started. */
function textByRun(chunks: readonly LogChunk[]): Map<string, string> {
  const runs = new Map<string, string>();
  for (const c of chunks) runs.set(c.run, (runs.get(c.run) ?? '') + c.text);
  return runs;
}

function stateDirOf(runtime: ProcessRuntime): string {
  return stateDirs.get(runtime)!;
}

async function spec(env: Record<string, string> = {}, overrides: Partial<InstanceSpec> = {}): Promise<InstanceSpec> {
  const id = `test.web-${process.pid}-${++counter}`;
  usedIds.push(id);
  return {
    id,
    command: [process.execPath, fixture],
    env,
    port: await freePort(),
    memoryBytes: 256 * 2 ** 20,
    cpuMillis: 100,
    healthCheck: { path: '/healthz', periodMs: 50, timeoutMs: 1_000, failureThreshold: 2 },
    stopGraceMs: 3_000,
    ...overrides,
  };
}

/** Every status the runtime published, in order. */
function record(runtime: ProcessRuntime): InstanceStatus[] {
  const seen: InstanceStatus[] = [];
  runtime.onChange((status) => seen.push(status));
  return seen;
}

function statusOf(runtime: ProcessRuntime, id: string): InstanceStatus | undefined {
  return runtime.list().find((s) => s.id === id);
}

async function whenStatus(runtime: ProcessRuntime, id: string, expected: Partial<InstanceStatus>, what = JSON.stringify(expected)): Promise<InstanceStatus> {
  return eventually(
    () => {
      const status = statusOf(runtime, id);
      expect(status).toMatchObject(expected);
      return status;
    },
    { timeoutMs: 10_000, what },
  );
}

/** The first published status matching `expected`, waiting for it: catches phases too short to poll. */
async function whenSeen(seen: readonly InstanceStatus[], expected: Partial<InstanceStatus>, what = JSON.stringify(expected)): Promise<InstanceStatus> {
  return eventually(
    () => {
      const match = seen.find((status) => matches(status, expected));
      if (!match) throw new Error(`seen: ${JSON.stringify(seen.map((x) => [x.phase, x.ready, x.restarts, x.lastExit?.reason]))}`);
      return match;
    },
    { timeoutMs: 10_000, what },
  );
}

function matches(status: InstanceStatus, expected: Partial<InstanceStatus>): boolean {
  try {
    expect(status).toMatchObject(expected);
    return true;
  } catch {
    return false;
  }
}

/** Live processes whose environment says TEND_INSTANCE=<id> (zombies have no environment left). */
function processesOf(id: string): number[] {
  const needle = `TEND_INSTANCE=${id}`;
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(needle)) pids.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

function isAlive(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function getJson(port: number, path: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return res.json();
}

describe('ProcessRuntime', () => {
  it('starts an instance with PORT and TEND_INSTANCE, logs its output, and reports it ready once /healthz answers', async () => {
    const runtime = newRuntime();
    const seen = record(runtime);
    const s = await spec({ GREETING: 'hello' });

    runtime.ensure(s);
    const status = await whenStatus(runtime, s.id, { phase: 'running', ready: true, restarts: 0, specHash: specHash(s) });

    expect(status.pid).toBeGreaterThan(1);
    expect(Date.parse(status.startedAt ?? '')).not.toBeNaN();
    expect(await getJson(s.port, '/env')).toEqual({ PORT: String(s.port), TEND_INSTANCE: s.id, GREETING: 'hello', pid: status.pid });
    expect(seen.map((x) => [x.phase, x.ready])).toEqual([['starting', false], ['running', false], ['running', true]]);
    expect(readFileSync(join(stateDirOf(runtime), `${s.id}.log`), 'utf8')).toContain(`listening on ${s.port} as ${s.id}`);
  });

  it('restarts a crashing instance after a doubling backoff, in phase backoff meanwhile, and counts the restarts', async () => {
    const runtime = newRuntime({ crashBackoff: { baseMs: 100, maxMs: 400 } });
    const seen = record(runtime);
    const s = await spec({ EXIT_AFTER_MS: '50', EXIT_CODE: '3' }, { healthCheck: undefined });

    runtime.ensure(s);
    await eventually(() => expect(seen.filter((x) => x.phase === 'backoff').length).toBeGreaterThanOrEqual(4), { what: 'four crashes' });

    const backoffs = seen.filter((x) => x.phase === 'backoff').slice(0, 4);
    expect(backoffs.map((x) => x.lastExit)).toEqual(backoffs.map(() => expect.objectContaining({ code: 3, signal: null, reason: 'Error' })));
    expect(backoffs.map((x) => Date.parse(x.backoffUntil!) - Date.parse(x.lastExit!.at))).toEqual([100, 200, 400, 400]);
    expect(backoffs.map((x) => x.restarts)).toEqual([0, 1, 2, 3]);
    expect(backoffs.every((x) => x.pid === undefined && !x.ready)).toBe(true);
    // The exit carries its restart time (the App reports it), and keeps it once restarted.
    expect(backoffs.map((x) => x.lastExit!.restartAt)).toEqual(backoffs.map((x) => x.backoffUntil));
    const runs = seen.filter((x) => x.phase === 'running');
    expect(runs.slice(1).every((x) => x.lastExit?.restartAt !== undefined)).toBe(true);
    expect(new Set(runs.map((x) => x.pid)).size).toBe(runs.length);
  });

  it('kills an instance that goes over its memory limit and reports OOMKilled with what it used', async () => {
    const runtime = newRuntime();
    const seen = record(runtime);
    const s = await spec({ ALLOCATE_MIB: '400' }, { memoryBytes: 128 * 2 ** 20, healthCheck: undefined });

    runtime.ensure(s);
    const status = await whenSeen(seen, { phase: 'backoff', lastExit: expect.objectContaining({ reason: 'OOMKilled' }) });

    expect(status.lastExit?.message).toMatch(/128Mi memory limit/);
    if (runtime.memoryEnforcement === 'rss-polling') {
      expect(status.lastExit).toMatchObject({ code: null, signal: 'SIGKILL' });
      expect(status.lastExit?.message).toMatch(/^used \d+(\.\d)?Mi of its 128Mi memory limit$/);
    }
  });

  it('stops an instance with SIGTERM and reports Completed when it exits in its grace period', async () => {
    const runtime = newRuntime();
    const seen = record(runtime);
    const s = await spec();
    runtime.ensure(s);
    const { pid } = await whenStatus(runtime, s.id, { phase: 'running', ready: true });

    await runtime.remove(s.id);

    expect(isAlive(pid!)).toBe(false);
    expect(seen.at(-1)).toMatchObject({ phase: 'stopped', ready: false, lastExit: { code: 0, reason: 'Completed' } });
    expect(seen.map((x) => x.phase)).toContain('stopping');
    expect(runtime.list()).toEqual([]);
    expect(readdirSync(stateDirOf(runtime)).filter((f) => f.endsWith('.instance.json'))).toEqual([]);
  });

  it('SIGKILLs an instance that ignores SIGTERM once its grace period is over and reports Killed', async () => {
    const runtime = newRuntime();
    const seen = record(runtime);
    const s = await spec({ IGNORE_SIGTERM: '1' }, { stopGraceMs: 300 });
    runtime.ensure(s);
    const { pid } = await whenStatus(runtime, s.id, { phase: 'running', ready: true });

    const started = Date.now();
    const log = join(stateDirOf(runtime), `${s.id}.log`);
    const removed = runtime.remove(s.id);
    await eventually(() => expect(readFileSync(log, 'utf8')).toContain('ignoring SIGTERM'), { what: 'SIGTERM ignored' });
    await removed;

    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(isAlive(pid!)).toBe(false);
    expect(seen.at(-1)).toMatchObject({ phase: 'stopped', lastExit: { code: null, signal: 'SIGKILL', reason: 'Killed' } });
    expect(existsSync(log)).toBe(false); // the log goes with the instance
  });

  it('starts an instance again when it is ensured while being removed, once the old process is gone', async () => {
    const runtime = newRuntime();
    const s = await spec({ IGNORE_SIGTERM: '1' }, { stopGraceMs: 200 });
    runtime.ensure(s);
    const { pid } = await whenStatus(runtime, s.id, { phase: 'running', ready: true });

    const removed = runtime.remove(s.id);
    runtime.ensure(s);
    await removed;

    expect(isAlive(pid!)).toBe(false);
    const again = await whenStatus(runtime, s.id, { phase: 'running', ready: true, restarts: 1 });
    expect(again.pid).not.toBe(pid);
    expect(processesOf(s.id)).toEqual([again.pid]);
  });

  it('restarts an instance that turns unhealthy after failureThreshold failed checks, saying why', async () => {
    const runtime = newRuntime();
    const seen = record(runtime);
    const s = await spec({ FAIL_HEALTH_AFTER: '3' });

    runtime.ensure(s);
    const first = await whenStatus(runtime, s.id, { phase: 'running', ready: true });
    const restarted = await eventually(() => seen.find((x) => x.restarts === 1 && x.phase === 'running'), { what: 'a restart' });

    expect(restarted.pid).not.toBe(first.pid);
    expect(isAlive(first.pid!)).toBe(false);
    expect(restarted.lastExit).toMatchObject({ reason: 'Error', message: expect.stringMatching(/^restarted after failing its health check: 2 probes failed in a row/) });
  });

  it('ignores an unchanged spec and replaces the process when the spec for the same id changes', async () => {
    const runtime = newRuntime();
    const seen = record(runtime);
    const first = await spec({ GREETING: 'one' });
    runtime.ensure(first);
    const before = await whenStatus(runtime, first.id, { phase: 'running', ready: true });
    const events = seen.length;

    runtime.ensure({ ...first, env: { GREETING: 'one' } });
    expect(seen.length).toBe(events);
    expect(statusOf(runtime, first.id)?.pid).toBe(before.pid);

    const second = { ...first, env: { GREETING: 'two' } };
    runtime.ensure(second);
    const after = await whenStatus(runtime, first.id, { phase: 'running', ready: true, specHash: specHash(second) });

    expect(after.pid).not.toBe(before.pid);
    expect(after.restarts).toBe(0);
    expect(isAlive(before.pid!)).toBe(false);
    expect(await getJson(first.port, '/env')).toMatchObject({ GREETING: 'two', pid: after.pid });
    expect(seen.slice(events).map((x) => x.phase)).toEqual(expect.arrayContaining(['stopping', 'starting', 'running']));
    expect(processesOf(first.id)).toEqual([after.pid]);
  });

  it('a new runtime on the same state dir adopts a running instance instead of starting a second one, and keeps watching it', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'tend-runtime-'));
    const first = newRuntime({ stateDir });
    const s = await spec({}, { memoryBytes: 128 * 2 ** 20 });
    first.ensure(s);
    const { pid } = await whenStatus(first, s.id, { phase: 'running', ready: true });
    await first.close(); // the agent "crashes": its instances keep running

    const second = newRuntime({ stateDir });
    const seen = record(second);
    expect(second.list()).toEqual([expect.objectContaining({ id: s.id, phase: 'running', pid, restarts: 0, specHash: specHash(s) })]);
    await whenStatus(second, s.id, { phase: 'running', ready: true, pid });
    second.ensure(s);

    expect(statusOf(second, s.id)?.pid).toBe(pid);
    expect(processesOf(s.id)).toEqual([pid]);

    // Its memory guard works too: the adopted instance is not our child, yet its overuse is seen.
    await fetch(`http://127.0.0.1:${s.port}/allocate?mib=400`);
    const killed = await whenSeen(seen, { phase: 'backoff', lastExit: expect.objectContaining({ reason: 'OOMKilled' }) });
    expect(killed.lastExit?.message).toMatch(/128Mi memory limit/);
    const restarted = await whenStatus(second, s.id, { phase: 'running', ready: true, restarts: 1 });
    expect(restarted.pid).not.toBe(pid);
    expect(processesOf(s.id)).toEqual([restarted.pid]);
  });

  it('an adopted instance that was ready stays ready across the agent restart, and turns not ready only when its checks fail', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'tend-runtime-'));
    const first = newRuntime({ stateDir });
    const s = await spec({ FAIL_HEALTH_AFTER: '120' }); // about 6 s of passing checks at 50 ms: the restart below must come first, also under load
    first.ensure(s);
    const { pid } = await whenStatus(first, s.id, { phase: 'running', ready: true });
    await first.close();

    const second = newRuntime({ stateDir });
    const seen = record(second);
    // Before any probe of its own: no not-ready report that would take it out of its routes.
    expect(statusOf(second, s.id)).toMatchObject({ phase: 'running', ready: true, pid });
    second.ensure(s);
    const restarted = await whenSeen(seen, { phase: 'running', restarts: 1 });
    expect(restarted.lastExit?.message).toMatch(/^restarted after failing its health check: 2 probes failed in a row/);
    const firstNotReady = seen.findIndex((x) => !x.ready);
    expect(seen[firstNotReady]).toMatchObject({ pid }); // the adopted process, once its checks failed
  });

  it('a new runtime notices when an adopted instance exits and restarts it', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'tend-runtime-'));
    const first = newRuntime({ stateDir });
    const s = await spec();
    first.ensure(s);
    const { pid } = await whenStatus(first, s.id, { phase: 'running', ready: true });
    await first.close();
    const second = newRuntime({ stateDir });
    const seen = record(second);
    await whenStatus(second, s.id, { phase: 'running', pid });

    killQuietly(pid!);

    const crashed = await whenSeen(seen, { phase: 'backoff' });
    expect(crashed.lastExit).toMatchObject({ code: null, signal: null, reason: 'Error', message: expect.stringMatching(/not observable/) });
    const restarted = await whenStatus(second, s.id, { phase: 'running', ready: true, restarts: 1 });
    expect(processesOf(s.id)).toEqual([restarted.pid]);
  });

  it('a new runtime replaces an adopted instance when the agent ensures a changed spec', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'tend-runtime-'));
    const first = newRuntime({ stateDir });
    const s = await spec({ GREETING: 'old' });
    first.ensure(s);
    const { pid } = await whenStatus(first, s.id, { phase: 'running', ready: true });
    await first.close();
    const second = newRuntime({ stateDir });
    const seen = record(second);

    const changed = { ...s, env: { GREETING: 'new' } };
    second.ensure(changed);

    const stopped = await whenSeen(seen, { phase: 'stopped' });
    expect(stopped.lastExit).toMatchObject({ reason: 'Completed', message: expect.stringMatching(/not observable/) });
    const replaced = await whenStatus(second, s.id, { phase: 'running', ready: true, restarts: 0, specHash: specHash(changed) });
    expect(isAlive(pid!)).toBe(false);
    expect(await getJson(s.port, '/env')).toMatchObject({ GREETING: 'new', pid: replaced.pid });
    expect(processesOf(s.id)).toEqual([replaced.pid]);
  });

  it('a new runtime reports a recorded instance whose process is gone as stopped, and ensure starts it again', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'tend-runtime-'));
    const first = newRuntime({ stateDir });
    const s = await spec();
    first.ensure(s);
    const { pid } = await whenStatus(first, s.id, { phase: 'running', ready: true });
    await first.close();
    killQuietly(pid!);
    await eventually(() => expect(isAlive(pid!)).toBe(false), { what: 'the recorded process to die' });

    const second = newRuntime({ stateDir });
    const [gone] = second.list();

    expect(gone).toMatchObject({ id: s.id, phase: 'stopped', ready: false, restarts: 0, specHash: specHash(s) });
    expect(gone?.pid).toBeUndefined();
    expect(gone?.lastExit).toMatchObject({ code: null, reason: 'Error', message: expect.stringMatching(/had exited when the runtime started/) });
    second.ensure(s);
    const restarted = await whenStatus(second, s.id, { phase: 'running', ready: true, restarts: 1 });
    expect(restarted.pid).not.toBe(pid);
  });

  it('reports a command that cannot be started as an Error exit and retries it with backoff', async () => {
    const runtime = newRuntime();
    const seen = record(runtime);
    const s = await spec({}, { command: ['/nonexistent/tend-test-program'], healthCheck: undefined });

    runtime.ensure(s);
    const status = await whenSeen(seen, { phase: 'backoff', restarts: 1 });

    expect(status.lastExit).toMatchObject({ code: null, reason: 'Error', message: expect.stringMatching(/^could not start: .*ENOENT/) });
  });

  it('caps an instance log: past logMaxBytes it is copied to .log.1 and truncated while the instance keeps writing', async () => {
    const runtime = newRuntime({ logMaxBytes: 64 * 1024, logCheckMs: 50 });
    const s = await spec({ LOG_SPAM_KIB: '16' }, { healthCheck: undefined });
    const log = join(stateDirOf(runtime), `${s.id}.log`);
    runtime.ensure(s);

    await eventually(() => expect(existsSync(`${log}.1`)).toBe(true), { what: 'a rotated log' });
    const first = readFileSync(`${log}.1`);
    expect(first.length).toBeGreaterThan(64 * 1024);
    // Written on after the truncate (O_APPEND: no hole of zeros), and rotated again: one older file only.
    await eventually(() => expect(readFileSync(`${log}.1`).equals(first)).toBe(false), { what: 'a second rotation' });
    expect(readFileSync(`${log}.1`)[0]).toBe('x'.charCodeAt(0));
    expect(statSync(log).size).toBeLessThan(4 * 2 ** 20);
    expect(readdirSync(stateDirOf(runtime)).filter((f) => f.startsWith(s.id)).sort()).toEqual([`${s.id}.instance.json`, `${s.id}.log`, `${s.id}.log.1`]);
  });

  it('hands out each run of an instance apart: the crashed run ends with its last line, the restarted one starts with its first', async () => {
    const runtime = newRuntime();
    runtime.logs.resume(new Map());
    const s = await spec({ EXIT_AFTER_MS: '300' }, { healthCheck: undefined });
    runtime.ensure(s);
    const got: LogChunk[] = [];
    const runs = await eventually(() => {
      const chunks = runtime.logs.take(LIMITS);
      runtime.logs.stored(chunks);
      got.push(...chunks);
      const byRun = textByRun(got);
      expect([...byRun.values()].filter((t) => t.includes('listening on')).length).toBeGreaterThanOrEqual(2);
      return byRun;
    }, { what: 'two runs that printed' });
    const [first, second] = [...runs.entries()];
    expect(first![1]).toBe(`listening on ${s.port} as ${s.id}\nexiting with 1 as asked\n`);
    expect(second![1]).toMatch(new RegExp(`^listening on ${s.port} as ${s.id}\\n`));
    expect(Date.parse(second![0])).toBeGreaterThan(Date.parse(first![0]));
    expect(got.every((c) => c.instance === s.id)).toBe(true);
  });

  it('rotates a busy log without losing a line: the instance is held still for the last read and the truncation', async () => {
    const runtime = newRuntime({ logMaxBytes: 16 * 1024, logCheckMs: 10 });
    runtime.logs.resume(new Map());
    const s = await spec({ LOG_NUMBERED: '20' }, { healthCheck: undefined });
    const log = join(stateDirOf(runtime), `${s.id}.log`);
    runtime.ensure(s);
    let text = '';
    let rotated = '';
    let rotations = 0;
    const drain = setInterval(() => {
      const chunks = runtime.logs.take(LIMITS);
      runtime.logs.stored(chunks);
      for (const c of chunks) text += c.text;
      const older = existsSync(`${log}.1`) ? readFileSync(`${log}.1`, 'utf8').slice(0, 40) : '';
      if (older !== rotated) {
        rotated = older;
        rotations++;
      }
    }, 5);
    try {
      await eventually(() => expect(rotations).toBeGreaterThanOrEqual(30), { what: 'thirty rotations', timeoutMs: 30_000 });
    } finally {
      clearInterval(drain);
    }
    const numbers = text.split('\n').filter((l) => l.startsWith('n ')).map((l) => Number(l.slice(2)));
    expect(numbers.length).toBeGreaterThan(10_000);
    expect(text).not.toContain('[tend:');
    const gaps = numbers.map((n, i) => [i, n]).filter(([i, n]) => n !== i! + 1).map(([i, n]) => `${i}:${n} after ${numbers[i! - 1]}`);
    expect(gaps.slice(0, 5)).toEqual([]);
  });

  it('close with stopInstances stops every instance and whatever it started, and forgets them', async () => {
    const runtime = newRuntime();
    const a = await spec({ SPAWN_CHILD: '1' });
    const b = await spec({ IGNORE_SIGTERM: '1' }, { stopGraceMs: 200 });
    runtime.ensure(a);
    runtime.ensure(b);
    await whenStatus(runtime, a.id, { phase: 'running', ready: true });
    await whenStatus(runtime, b.id, { phase: 'running', ready: true });
    await eventually(() => expect(processesOf(a.id)).toHaveLength(2), { what: 'the instance and its child' });

    await runtime.close({ stopInstances: true });

    await eventually(() => expect([...processesOf(a.id), ...processesOf(b.id)]).toEqual([]), { timeoutMs: 2_000, what: 'no process left' });
    expect(runtime.list()).toEqual([]);
    expect(readdirSync(stateDirOf(runtime)).filter((f) => f.endsWith('.instance.json'))).toEqual([]);
    expect(() => runtime.ensure(a)).toThrow(/closed/);
  });
});

