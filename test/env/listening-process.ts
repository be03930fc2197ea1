/**
 * Which host process listens on a loopback TCP port, found in /proc as `ss -ltnp` does: the
 * listening socket's inode in /proc/net/tcp, then the process holding it. With its start time
 * (/proc/PID/stat field 22) it names one process for good: a restarted instance differs even
 * when its pid is reused, and a sandboxed one is seen by its host pid, not its namespace's.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** One process, as the host sees it. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Clock ticks after boot; with the pid, unique for the life of the host. */
  readonly startTime: number;
}

const LISTEN = '0A';

/** The process listening on `port` (IPv4 or IPv6), or undefined when none is. */
export function listeningProcess(port: number): ProcessIdentity | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (!local || fields[3] !== LISTEN) continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(fields[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) return { pid: Number(entry), startTime: startTimeOf(Number(entry)) };
    }
  }
  return undefined;
}

function startTimeOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}
