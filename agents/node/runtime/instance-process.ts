/**
 * One OS process of an instance, whether this runtime spawned it or adopted it from a previous
 * agent. The difference is hidden here: a child is `wait()`ed for and has an exit status; an
 * adopted process is not our child, so its exit is noticed by polling /proc and its status is
 * unknown.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import type { Clock } from '../../../framework/index.js';
import { isSameLiveProcess, readProcStat } from './procfs.js';

/** How a process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** False for an adopted process: we saw it disappear, not how it ended. */
  readonly observed: boolean;
}

export interface InstanceProcess {
  readonly pid: number;
  /** /proc/<pid>/stat field 22, recorded so a later agent can tell this process from a reused pid. */
  readonly startTime: number;
  /** Resolves once, when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  /** Sends `signal` to the whole process group (the instance and whatever it started). */
  signal(signal: NodeJS.Signals): void;
  /** Lets go without touching the process: the agent is leaving and a later one will adopt it. */
  detach(): void;
}

export interface SpawnInstanceOptions {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** stdout and stderr are appended here. */
  readonly logPath: string;
  /**
   * Handed to the process as fd 3 (the sandbox's environment script): written to `path` with mode
   * 0600, opened, and deleted as soon as the process has it, so it is never in argv or an
   * environment and only briefly on disk, in the agent's own folder.
   */
  readonly fd3?: { readonly path: string; readonly text: string };
}

/**
 * Starts a process as the leader of a new process group (so one signal reaches its whole tree)
 * with its output going straight to its log file — no pipes through the agent, so the instance
 * keeps running, and keeps writing, when the agent goes away. Rejects when it cannot be started.
 */
export async function spawnInstance(options: SpawnInstanceOptions): Promise<InstanceProcess> {
  const [program, ...args] = options.argv;
  if (program === undefined) throw new Error('empty command');
  const log = openSync(options.logPath, 'a', 0o600);
  let extra: number | undefined;
  let child;
  try {
    if (options.fd3) {
      writeFileSync(options.fd3.path, options.fd3.text, { mode: 0o600 });
      extra = openSync(options.fd3.path, 'r');
    }
    const stdio = extra === undefined ? ['ignore', log, log] as const : ['ignore', log, log, extra] as const;
    child = spawn(program, args, { cwd: options.cwd, env: { ...options.env }, detached: true, stdio: [...stdio] });
  } finally {
    closeSync(log); // the child holds its own copy
    if (extra !== undefined) closeSync(extra);
    if (options.fd3) rmSync(options.fd3.path, { force: true });
  }
  const pid = child.pid;
  if (pid === undefined) {
    const [err] = (await once(child, 'error')) as [Error];
    throw err;
  }
  // Read before yielding to the event loop: until Node reaps the child its /proc entry exists.
  const startTime = readProcStat(pid)?.startTime ?? 0;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, observed: true }));
  });
  child.on('error', () => {}); // a failed kill() is reported here; signalGroup already ignores it
  return {
    pid,
    startTime,
    exited,
    signal: (signal) => signalGroup(pid, signal),
    detach: () => child.unref(),
  };
}

export interface AdoptInstanceOptions {
  readonly pid: number;
  readonly startTime: number;
  readonly clock: Clock;
  /** How often /proc is checked for the process's exit. */
  readonly pollIntervalMs: number;
}

/** Takes over a running process this agent did not start (the caller checked it is the recorded one). */
export function adoptInstance(options: AdoptInstanceOptions): InstanceProcess {
  const { pid, startTime, clock, pollIntervalMs } = options;
  let cancel: (() => void) | undefined;
  const exited = new Promise<ProcessExit>((resolve) => {
    const poll = (): void => {
      if (isSameLiveProcess(pid, startTime)) cancel = clock.setTimer(poll, pollIntervalMs);
      else resolve({ code: null, signal: null, observed: false });
    };
    cancel = clock.setTimer(poll, pollIntervalMs);
  });
  return {
    pid,
    startTime,
    exited,
    signal: (signal) => signalGroup(pid, signal),
    detach: () => cancel?.(),
  };
}

/**
 * kill(-pgid): the leader's pid is the group id. Also used right after the leader exited to
 * clear what is left of its group; a pid is not reused while its group still has members, so
 * this cannot reach a stranger unless the group is already empty and the pid was reused as a
 * new group within that instant.
 */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (!(pid > 1)) return; // kill(-1) would signal every process we may signal
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
