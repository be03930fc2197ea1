/**
 * `tend version`: the version of this tend, from its package.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';

/** tend's name on npm (`tend` there is an unrelated package): `npm i -g @tend-dev/tend` gives the `tend` command. */
export const PACKAGE_NAME = '@tend-dev/tend';

/** The version in tend's package.json (found from this file, whether run from source or dist/). */
export function tendVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === PACKAGE_NAME && pkg.version) return pkg.version;
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** Run `tend version`; returns the exit code. */
export function runVersion(args: readonly string[], io: CliIo): number {
  if (args.length > 0) throw new UsageError(`version takes no arguments, got ${args.join(' ')}`);
  io.out(`tend ${tendVersion()}`);
  return EXIT.ok;
}
