/**
 * Holds an instance still for a moment: SIGSTOP to every process of its tree, then a wait until
 * /proc says each one is stopped (a signal is delivered asynchronously: a process may finish a
 * write after kill() returned). Log rotation uses it so that nothing is written between the last
 * read of a log and its truncation. SIGCONT resumes them; a stop the program did not ask for is
 * invisible to it except for the time it lost.
 */
import { processTree, readProcessTable } from './procfs.js';

/** A frozen process tree: `thaw` exactly once. */
export interface Frozen {
  /** False when some process did not stop within the deadline (it may still write). */
  readonly complete: boolean;
  thaw(): void;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Stops `root` and everything under it (its descendants and its process group) and waits up to
 * `deadlineMs` for all to be stopped. Blocks the event loop meanwhile: usually well under a
 * millisecond, and it must not let the agent's other work run while an instance is stopped.
 */
export function freezeTree(root: number, deadlineMs = 200, proc = '/proc'): Frozen {
  const stopped = new Set<number>();
  const deadline = Date.now() + deadlineMs;
  let complete = false;
  for (;;) {
    const table = readProcessTable(proc);
    const tree = processTree(root, table);
    // Processes forked by a parent not yet stopped appear in a later round.
    for (const pid of tree) if (!stopped.has(pid) && signal(pid, 'SIGSTOP')) stopped.add(pid);
    const running = tree.filter((pid) => {
      const state = table.get(pid)?.state;
      return state !== undefined && state !== 'T' && state !== 't' && state !== 'Z' && state !== 'X';
    });
    // The states read above predate the signals of this round: read them again before judging.
    if (running.length === 0 && tree.every((pid) => stopped.has(pid))) {
      complete = true;
      break;
    }
    if (Date.now() > deadline) break;
    Atomics.wait(pause, 0, 0, 1);
  }
  let thawed = false;
  return {
    complete,
    thaw: () => {
      if (thawed) return;
      thawed = true;
      for (const pid of stopped) signal(pid, 'SIGCONT');
    },
  };
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false; // gone meanwhile
  }
}
