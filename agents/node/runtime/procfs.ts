/**
 * The few facts the runtime reads from Linux /proc. Everything returns undefined for a process
 * that vanished between listing and reading, which is normal, not an error.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Fields of /proc/<pid>/stat the runtime uses. */
export interface ProcStat {
  readonly pid: number;
  /** R, S, D, Z (zombie), X (dead) … */
  readonly state: string;
  readonly ppid: number;
  readonly pgid: number;
  /** Field 22: clock ticks after boot. With the pid, it names a process for good (pids are reused). */
  readonly startTime: number;
}

/** Parses /proc/<pid>/stat; undefined if there is no such process. */
export function readProcStat(pid: number, proc = '/proc'): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`${proc}/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcStat(text);
}

/** Parses the text of a stat file; the command name may hold spaces and parentheses, so split after the last ')'. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  const pid = Number.parseInt(text, 10);
  if (close < 0 || !Number.isInteger(pid)) return undefined;
  // After ')' come fields 3, 4, 5 …: field n is at index n - 3.
  const fields = text.slice(close + 2).split(' ');
  const [state, ppid, pgid, startTime] = [fields[0], fields[1], fields[2], fields[19]];
  if (state === undefined || ppid === undefined || pgid === undefined || startTime === undefined) return undefined;
  return { pid, state, ppid: Number(ppid), pgid: Number(pgid), startTime: Number(startTime) };
}

/** True when `pid` is the very process that started at `startTime` and has not exited (zombies have exited). */
export function isSameLiveProcess(pid: number, startTime: number, proc = '/proc'): boolean {
  const stat = readProcStat(pid, proc);
  return stat !== undefined && stat.startTime === startTime && stat.state !== 'Z' && stat.state !== 'X';
}

/** Every process now, by pid. */
export function readProcessTable(proc = '/proc'): Map<number, ProcStat> {
  const table = new Map<number, ProcStat>();
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProcStat(Number(name), proc);
    if (stat) table.set(stat.pid, stat);
  }
  return table;
}

/**
 * `root` and everything under it: its descendants, plus members of its process group that were
 * re-parented to init when their parent died (instances are group leaders).
 */
export function processTree(root: number, table: ReadonlyMap<number, ProcStat>): number[] {
  const children = new Map<number, number[]>();
  for (const stat of table.values()) {
    const siblings = children.get(stat.ppid);
    if (siblings) siblings.push(stat.pid);
    else children.set(stat.ppid, [stat.pid]);
  }
  const seen = new Set<number>();
  const pending = [root, ...[...table.values()].filter((s) => s.pgid === root).map((s) => s.pid)];
  for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
    if (seen.has(pid) || !table.has(pid)) continue;
    seen.add(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  return [...seen];
}

/** Resident memory of one process in bytes (VmRSS); undefined when gone or a kernel thread. */
export function readRssBytes(pid: number, proc = '/proc'): number | undefined {
  let text: string;
  try {
    text = readFileSync(`${proc}/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}
