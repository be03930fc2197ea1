/**
 * Stops what an agent left running. Agents leave their instances running when they stop (a
 * restarted agent adopts them), so a test that stops its agents with instances still placed must
 * end those itself, or they outlive the run (holding CPU, memory and sandbox uids for the next).
 * Only the processes an agent's own state folder records are touched: other runs on the machine
 * keep theirs.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isSameLiveProcess } from '../../agents/node/runtime/procfs.js';

/** SIGKILLs the process group of every instance recorded in `stateDir` that still runs as recorded; how many. */
export function killRecordedInstances(stateDir: string): number {
  let killed = 0;
  let files: string[];
  try {
    files = readdirSync(stateDir).filter((f) => f.endsWith('.instance.json'));
  } catch {
    return 0;
  }
  for (const file of files) {
    try {
      const record = JSON.parse(readFileSync(join(stateDir, file), 'utf8')) as { pid: number; startTime: number };
      if (!isSameLiveProcess(record.pid, record.startTime)) continue; // a reused pid is not ours
      process.kill(-record.pid, 'SIGKILL'); // spawned detached: the instance leads its group
      killed++;
    } catch {
      // no record, or the process is gone
    }
  }
  return killed;
}
