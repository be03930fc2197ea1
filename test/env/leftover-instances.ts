/**
 * Instance processes a test run leaves behind. Agents leave their instances running when they stop
 * (a restarted agent adopts them), so a test that stops its agents before its Apps are gone leaves
 * processes that would outlive the run: on CI's second pass (PostgreSQL 15) they would still hold
 * CPU, memory and sandbox uids. The global teardown kills those the run started.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** The pids of processes whose environment names a tend instance (TEND_INSTANCE). */
export function instanceProcesses(): Set<number> {
  const pids = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').some((e) => e.startsWith('TEND_INSTANCE='))) pids.add(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** Kills every instance process that was not running at `before`; how many. */
export function killInstancesStartedSince(before: ReadonlySet<number>): number {
  let killed = 0;
  for (const pid of instanceProcesses()) {
    if (before.has(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // exited meanwhile
    }
  }
  return killed;
}
