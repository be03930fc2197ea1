/**
 * `tend help`: what the command can do.
 */
import { EXIT, type CliIo } from './io.js';
import { AGENT_USAGE } from './agent.js';
import { EDGE_USAGE } from './edge.js';
import { RUN_USAGE } from './run.js';
import { VALIDATE_USAGE } from './validate.js';
import { UsageError } from './usage-error.js';

/** The overview shown by `tend help` and after a usage error. */
export const USAGE = `Usage: tend <command> [options]

Commands:
  agent --node NAME      run the node agent of one worker host (see: tend help agent)
  edge                   run the HTTP edge proxy (see: tend help edge)
  run                    run one replica of the controllers (see: tend help run)
  validate -f FILE|DIR   check tend.dev manifests offline (see: tend help validate)
  version                print tend's version
  help [COMMAND]         show this help, or a command's

Exit codes: 0 ok, 1 failure (invalid input, unreachable server …), 2 usage error.
TEND_DEBUG=1 prints the stack of an unexpected error.`;

const TOPICS: Readonly<Record<string, string>> = { agent: AGENT_USAGE, edge: EDGE_USAGE, run: RUN_USAGE, validate: VALIDATE_USAGE };

/** Run `tend help [COMMAND]`; returns the exit code. */
export function runHelp(args: readonly string[], io: CliIo): number {
  const [topic, ...rest] = args;
  if (rest.length > 0) throw new UsageError('help takes at most one command name');
  if (topic === undefined) {
    io.out(USAGE);
    return EXIT.ok;
  }
  const text = TOPICS[topic];
  if (text === undefined) throw new UsageError(`no help for unknown command "${topic}"`);
  io.out(text);
  return EXIT.ok;
}
