/**
 * The uids live processes on this host run as, from /proc (a process's /proc/PID folder belongs to
 * its effective uid). Read when a sandboxed instance is given a uid, so a uid still in use — a
 * process left from an earlier instance, another agent's instance on the same host — is skipped.
 */
import { readdirSync, statSync } from 'node:fs';

/** Every uid a process in /proc runs as right now; a process that exits mid-scan is skipped. */
export function liveUids(proc = '/proc'): Set<number> {
  const uids = new Set<number>();
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      uids.add(statSync(`${proc}/${entry}`).uid);
    } catch {
      // gone meanwhile
    }
  }
  return uids;
}
