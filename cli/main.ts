#!/usr/bin/env node
/**
 * The `tend` command: picks the verb and runs it. Each verb lives in its own file and returns
 * its exit code; a UsageError from any of them exits 2 with one line on stderr.
 * Not imported anywhere (it sets process.exitCode); tests call the verbs or spawn this file.
 */
import { runAgent } from './agent.js';
import { runApply } from './apply.js';
import { runDelete } from './delete.js';
import { runDescribe } from './describe.js';
import { runGet } from './get.js';
import { runLogs } from './logs.js';
import { runWhy } from './why.js';
import { runUpVerb } from './up.js';
import { runEdgeVerb } from './edge.js';
import { runHelp } from './help.js';
import { runNode } from './node.js';
import { runRollout } from './rollout.js';
import { runRun } from './run.js';
import { runSecret } from './secret.js';
import { EXIT, processIo, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { runValidate } from './validate.js';
import { runVersion } from './version.js';

type Verb = (args: readonly string[], io: CliIo) => number | Promise<number>;

const VERBS: Readonly<Record<string, Verb>> = {
  up: runUpVerb,
  apply: runApply,
  get: runGet,
  delete: runDelete,
  describe: runDescribe,
  why: runWhy,
  logs: (args, io) => runLogs(args, io),
  agent: runAgent,
  edge: runEdgeVerb,
  node: runNode,
  rollout: runRollout,
  run: runRun,
  secret: runSecret,
  validate: runValidate,
  version: runVersion,
  help: runHelp,
  '--help': runHelp,
  '-h': runHelp,
  '--version': runVersion,
};

/** Run tend with the arguments after the program name; returns the exit code. */
async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  // --verbose anywhere: the whole error, with its stack, instead of one line.
  const verbose = argv.includes('--verbose') || Boolean(process.env.TEND_DEBUG);
  const [name, ...args] = argv.filter((a) => a !== '--verbose');
  try {
    if (name === undefined) throw new UsageError('no command given');
    const verb = VERBS[name];
    if (!verb) throw new UsageError(`unknown command "${name}"`);
    return await verb(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`tend: ${err.message} (see: tend help)`);
      return EXIT.usage;
    }
    // One clear line (the database is down, the kubeconfig is missing …); the stack only on request.
    io.err(`tend: ${err instanceof Error ? err.message : String(err)}`);
    if (verbose && err instanceof Error && err.stack) io.err(err.stack);
    return EXIT.invalid;
  }
}

// `tend get apps | head`: the reader went away; that is the end of the output, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
process.exitCode = await main(process.argv.slice(2));
