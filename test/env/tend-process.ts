import { join } from 'node:path';
import { REPO_ROOT } from './environment.js';
import { ServerProcess } from './server-process.js';

/** Starts `tend ARGS…` from the sources (through tsx) as a separate process, logging to `logFile`. */
export function startTend(name: string, args: readonly string[], logFile: string): ServerProcess {
  return ServerProcess.start({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', join(REPO_ROOT, 'cli/main.ts'), ...args],
    cwd: REPO_ROOT,
    logFile,
  });
}
