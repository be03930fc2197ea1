import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './environment.js';
import { ServerProcess } from './server-process.js';

/** Starts `tend ARGS…` from the sources (through tsx) as a separate process in `cwd`, logging to `logFile`. */
export function startTend(name: string, args: readonly string[], logFile: string, cwd = REPO_ROOT): ServerProcess {
  return ServerProcess.start({
    name,
    command: process.execPath,
    // tsx by path: `--import tsx` would be resolved from cwd, which need not hold node_modules.
    args: ['--import', pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href, join(REPO_ROOT, 'cli/main.ts'), ...args],
    cwd,
    logFile,
  });
}
