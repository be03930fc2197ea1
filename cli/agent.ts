/**
 * `tend agent --node NAME`: the node agent of one worker host. Talks to PostgreSQL only.
 * SIGTERM stops the agent and leaves its instances running: the next agent adopts them.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { runNodeAgent } from '../agents/node/agent.js';
import { ProcessRuntime, parseUidRange } from '../agents/node/runtime/index.js';
import { FolderBackupStore } from '../agents/node/volumes/folder-backup-store.js';
import { createLogger, holdOpen, Store } from '../framework/index.js';
import { resolveAgentConnection } from './credentials.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';
import { wholeNumber } from './whole-number.js';

/** Usage text of the verb. */
export const AGENT_USAGE = `Usage: tend agent --node NAME --credentials-file FILE [options]

Run the node agent of one worker host: heartbeat into PostgreSQL, run the instances placed on
this node as processes, report what runs. Instances survive an agent restart (they are adopted).

Options:
  --node NAME             the Node this host is (default: the name in the credentials file)
  --credentials-file FILE this node's login, from tend node enroll NAME (default: $TEND_CREDENTIALS_FILE)
  --database-url URL      PostgreSQL without a credentials file (default: $DATABASE_URL); a password
                          here is visible to every local user: prefer the file or $DATABASE_URL
  --state-dir DIR         instance state, logs and volumes (default: .tend/agent-NAME)
  --backup-dir DIR        where volume backups are kept (default: STATE-DIR/../backups)
  --heartbeat-ms N        heartbeat period (default: 5000)
  --poll-ms N             full read of this node's instances and volumes at least this often (default: 5000)
  --crash-backoff-ms N    first restart delay of a crashing instance, doubling to 5 min (default: 10000,
                          at most 300000)
  --instance-uids A-B     uids (and gids) sandboxed instances run as, one each (default: 900000-999999)
  --instance-max-processes N
                          processes and threads a sandboxed instance may have at once (default: 1024)
  --sandbox MODE          auto: sandbox instances when this host can (root, util-linux), else run them
                          plainly and report Isolated=False; required: refuse to start without;
                          off: never (default: auto)
  --log-max-bytes N       an instance's log file is rotated past this size, one older file kept
                          (default: 10485760)
  --log-ship-ms N         how often new instance output is shipped to PostgreSQL (default: 500)
  --log-keep-bytes N      what PostgreSQL keeps of each of an instance's two newest runs, newest
                          lines first, for tend logs (default: 262144)
  --log-level LEVEL       trace|debug|info|warn|error (default: info)
  -h, --help              show this help`;

/** Run `tend agent`; resolves with the exit code once the agent has stopped. */
export async function runAgent(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseVerbArgs('agent', args, {
    node: { type: 'string' },
    'credentials-file': { type: 'string' },
    'database-url': { type: 'string' },
    'state-dir': { type: 'string' },
    'backup-dir': { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    'poll-ms': { type: 'string' },
    'crash-backoff-ms': { type: 'string' },
    'instance-uids': { type: 'string' },
    'instance-max-processes': { type: 'string' },
    sandbox: { type: 'string' },
    'log-max-bytes': { type: 'string' },
    'log-keep-bytes': { type: 'string' },
    'log-ship-ms': { type: 'string' },
    'log-level': { type: 'string' },
  });
  if (values.help) {
    io.out(AGENT_USAGE);
    return EXIT.ok;
  }
  const connection = resolveAgentConnection('agent', 'node', values, env, io);
  const node = values.node ?? connection.name;
  if (!node) throw new UsageError('agent needs --node NAME');
  if (connection.name !== undefined && connection.name !== node) {
    throw new UsageError(`agent: --node ${node}, but the credentials file is node ${connection.name}'s`);
  }
  const databaseUrl = connection.databaseUrl;
  const sandbox = values.sandbox ?? 'auto';
  if (sandbox !== 'auto' && sandbox !== 'required' && sandbox !== 'off') throw new UsageError(`agent: --sandbox must be auto, required or off, got "${sandbox}"`);
  const instanceUids = values['instance-uids'] === undefined ? undefined : uidRange(values['instance-uids']);
  const credentialsFile = values['credentials-file'] ?? env.TEND_CREDENTIALS_FILE;
  const stateDir = resolve(values['state-dir'] ?? `.tend/agent-${node}`);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const backupDir = resolve(values['backup-dir'] ?? resolve(stateDir, '..', 'backups'));
  const backupStore = new FolderBackupStore(backupDir);
  const logger = createLogger({ level: values['log-level'] ?? 'info', replica: `agent-${node}` });
  const crashBase = values['crash-backoff-ms'] ? whole(values['crash-backoff-ms'], 'crash-backoff-ms', 1) : undefined;
  // The delay doubles up to 5 min (kubelet's cap): a first delay past it would be refused later, at the first crash.
  if (crashBase !== undefined && crashBase > 300_000) throw new UsageError(`agent: --crash-backoff-ms must be at most 300000 (5 min), got "${values['crash-backoff-ms']}"`);
  const maxProcesses = values['instance-max-processes'] ? whole(values['instance-max-processes'], 'instance-max-processes', 1) : undefined;
  const logMaxBytes = values['log-max-bytes'] === undefined ? undefined : whole(values['log-max-bytes'], 'log-max-bytes', 1);
  const logKeepBytes = values['log-keep-bytes'] === undefined ? undefined : whole(values['log-keep-bytes'], 'log-keep-bytes', 1);
  const logShipMs = values['log-ship-ms'] === undefined ? undefined : whole(values['log-ship-ms'], 'log-ship-ms', 1);
  const runtime = new ProcessRuntime({
    // The node's login is 0600 root's already; hidden too, so not even its name shows.
    stateDir, logger, sandbox, hiddenPaths: [backupDir, ...(credentialsFile ? [resolve(credentialsFile)] : [])],
    ...(instanceUids ? { instanceUids } : {}),
    ...(maxProcesses !== undefined ? { instanceMaxProcesses: maxProcesses } : {}),
    ...(crashBase !== undefined ? { crashBackoff: { baseMs: crashBase } } : {}),
    ...(logMaxBytes !== undefined ? { logMaxBytes } : {}),
  });
  const store = new Store({ connectionString: databaseUrl, logger, applicationName: `tend agent ${node}`, poolSize: 2 });
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop.abort());
  holdOpen(stop.signal);
  await runNodeAgent(
    {
      node,
      store,
      listenUrl: databaseUrl,
      runtime,
      memoryEnforcement: runtime.memoryEnforcement,
      isolation: runtime.isolation,
      stateDir,
      backupStore,
      logger,
      ...(values['heartbeat-ms'] ? { heartbeatMs: whole(values['heartbeat-ms'], 'heartbeat-ms') } : {}),
      ...(values['poll-ms'] ? { pollMs: whole(values['poll-ms'], 'poll-ms') } : {}),
      logShipping: { ...(logKeepBytes !== undefined ? { keepBytes: logKeepBytes } : {}), ...(logShipMs !== undefined ? { flushMs: logShipMs } : {}) },
    },
    stop.signal,
  );
  await runtime.close();
  await store.close();
  return EXIT.ok;
}

function uidRange(text: string): ReturnType<typeof parseUidRange> {
  try {
    return parseUidRange(text);
  } catch (err) {
    throw new UsageError(`agent: --instance-uids: ${(err as Error).message}`);
  }
}

function whole(text: string, flag: string, min?: number): number {
  return wholeNumber('agent', flag, text, min);
}
