/**
 * `tend help`: what the command can do.
 */
import { EXIT, type CliIo } from './io.js';
import { AGENT_USAGE } from './agent.js';
import { APPLY_USAGE } from './apply.js';
import { DELETE_USAGE } from './delete.js';
import { DESCRIBE_USAGE } from './describe.js';
import { GET_USAGE } from './get.js';
import { LOGS_USAGE } from './logs.js';
import { UP_USAGE } from './up.js';
import { WHY_USAGE } from './why.js';
import { EDGE_USAGE } from './edge.js';
import { NODE_USAGE } from './node.js';
import { ROLLOUT_USAGE } from './rollout.js';
import { RUN_USAGE } from './run.js';
import { SECRET_USAGE } from './secret.js';
import { VALIDATE_USAGE } from './validate.js';
import { UsageError } from './usage-error.js';

/** The overview shown by `tend help` and after a usage error. */
export const USAGE = `Usage: tend <command> [options]

Commands:
  up                     run all of tend on this machine: PostgreSQL, controllers, agent, edge (see: tend help up)
  apply -f FILE|DIR      create or update objects from YAML; --wait until Ready
  get KIND [NAME]        list objects, or print one with -o yaml|json
  describe KIND/NAME     one object in full, with conditions and events
  why KIND/NAME          why it is (not) converging: desired, running, routing, last reconciles
  logs app/NAME          what an App's instances print, merged (also instance/ID); -f, --previous, --since, --tail
  logs [--journal]       what the controllers did: the reconcile journal (also KIND[/NAME], --journal app/NAME)
  delete KIND NAME       delete objects (or -f FILE)
  rollout history|undo   an App's revisions, and writing an older one back to its spec (see: tend help rollout)
  secret create NAME     a Secret for App env (--from-literal KEY=VALUE); also delete, list (see: tend help secret)
  node enroll NAME       give a worker host's agent its own PostgreSQL login (see: tend help node)
  agent --node NAME      run the node agent of one worker host (see: tend help agent)
  edge                   run the HTTP edge proxy; edge enroll NAME gives it a login (see: tend help edge)
  run                    run one replica of the controllers (see: tend help run)
  validate -f FILE|DIR   check tend.dev manifests offline (see: tend help validate)
  version                print tend's version
  help [COMMAND]         show this help, or a command's

Exit codes: 0 ok, 1 failure (invalid input, unreachable server …), 2 usage error.
--verbose (or TEND_DEBUG=1) prints the whole error with its stack.
The client commands talk to the \`tend up\` of ./.tend, or --database-url URL, or --kubeconfig PATH.`;

const TOPICS: Readonly<Record<string, string>> = {
  up: UP_USAGE,
  apply: APPLY_USAGE,
  get: GET_USAGE,
  describe: DESCRIBE_USAGE,
  why: WHY_USAGE,
  logs: LOGS_USAGE,
  delete: DELETE_USAGE,
  agent: AGENT_USAGE, node: NODE_USAGE, edge: EDGE_USAGE, run: RUN_USAGE, rollout: ROLLOUT_USAGE, secret: SECRET_USAGE, validate: VALIDATE_USAGE };

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
