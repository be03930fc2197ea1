/**
 * `tend node enroll NAME` / `tend node revoke NAME`: a worker host's identity in PostgreSQL
 * (cli/enroll.ts). The Node objects themselves are managed with apply/get/delete like every kind.
 */
import { runEnroll, runRevoke } from './enroll.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';

/** Usage text of the verb. */
export const NODE_USAGE = `Usage: tend node enroll|revoke NAME [options]

  enroll NAME    give node NAME's agent a PostgreSQL login of its own; writes its credentials file
  revoke NAME    take that login away now (decommission does it by itself)

See: tend node enroll --help, tend node revoke --help`;

/** Run `tend node …`; returns the exit code. */
export async function runNode(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'enroll') return runEnroll('node', rest, io, env);
  if (sub === 'revoke') return runRevoke(rest, io, env);
  if (sub === undefined || sub === '-h' || sub === '--help') {
    io.out(NODE_USAGE);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  throw new UsageError(`node: unknown subcommand "${sub}" (enroll or revoke)`);
}
