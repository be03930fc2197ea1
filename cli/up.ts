/**
 * `tend up`: the whole platform on this machine in one command (cli/standalone/up.ts). Ctrl-C (or
 * SIGTERM) stops it all; the next `tend up` with the same data folder continues where it left off.
 */
import { resolve } from 'node:path';
import { parseListenAddress, type ListenAddress } from '../agents/edge/index.js';
import { runUp } from './standalone/up.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';
import { wholeNumber } from './whole-number.js';

/** Usage text of the verb. */
export const UP_USAGE = `Usage: tend up [options]

Run all of tend on this machine: an embedded PostgreSQL (data kept in the data folder), the
controllers, a node agent for this machine and the edge. On the first start it applies
examples/ (a Tenant, this machine's Node, the hello App and its Route), so that
  curl -H 'Host: hello.localhost' http://127.0.0.1:8080/
answers within seconds, and over HTTPS with a certificate of a local CA made in the data folder
(ca/ca.crt, which may sign *.localhost names only; trust it, or pass it to curl):
  curl --cacert .tend/ca/ca.crt https://hello.localhost:8443/
Ctrl-C stops everything; the next start continues with the same data.

Options:
  --data-dir DIR          PostgreSQL data, agent state, the edge's routing snapshot, tend.log, tend.json
                          (default: $TEND_DATA_DIR or ./.tend)
  --listen HOST:PORT      where the edge listens (default: 127.0.0.1:8080)
  --https-listen HOST:PORT  where the edge listens for HTTPS (default: 127.0.0.1:8443)
  --metrics-port N        controllers' /metrics, /healthz, /readyz on 127.0.0.1 (default: 9464; 0 picks a free one)
  --node NAME             this machine's Node name (default: local, as in examples/node.yaml)
  --database-url URL      use this PostgreSQL instead of the embedded one
  --kubeconfig PATH       keep resources on this Kubernetes cluster instead of in PostgreSQL
  --secrets-key-file FILE the control plane's key that stored Secrets are sealed to, mode 0600
                          (default: $TEND_SECRETS_KEY_FILE, else DATA-DIR/secrets.key, made on the first start)
  --no-examples           do not apply examples/ on the first start
  --log-level LEVEL       level of tend.log: trace|debug|info|warn|error (default: info)
  -h, --help              show this help`;

/** Run `tend up`; resolves with the exit code once everything has stopped. */
export async function runUpVerb(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parse(args);
  if (values.help) {
    io.out(UP_USAGE);
    return EXIT.ok;
  }
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(EXIT.invalid);
    io.err('tend up: stopping (Ctrl-C again to exit at once)…');
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await runUp(
      {
        dataDir: resolve(values['data-dir'] ?? env.TEND_DATA_DIR ?? '.tend'),
        listen: address(values.listen ?? '127.0.0.1:8080', 'listen'),
        httpsListen: address(values['https-listen'] ?? '127.0.0.1:8443', 'https-listen'),
        metricsPort: values['metrics-port'] === undefined ? 9464 : wholeNumber('up', 'metrics-port', values['metrics-port'], 0),
        node: values.node ?? 'local',
        examples: !values['no-examples'],
        logLevel: values['log-level'] ?? 'info',
        io,
        ...(values['database-url'] ? { databaseUrl: values['database-url'] } : {}),
        ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
        ...((values['secrets-key-file'] ?? env.TEND_SECRETS_KEY_FILE) ? { secretsKeyFile: resolve((values['secrets-key-file'] ?? env.TEND_SECRETS_KEY_FILE)!) } : {}),
      },
      stop.signal,
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  io.err('tend up: stopped');
  return EXIT.ok;
}

function parse(args: readonly string[]) {
  return parseVerbArgs(
    'up',
    args,
    {
      'data-dir': { type: 'string' },
      listen: { type: 'string' },
      'https-listen': { type: 'string' },
      'metrics-port': { type: 'string' },
      node: { type: 'string' },
      'database-url': { type: 'string' },
      kubeconfig: { type: 'string' },
      'secrets-key-file': { type: 'string' },
      'no-examples': { type: 'boolean' },
      'log-level': { type: 'string' },
    },
    false,
  );
}

function address(text: string, flag: string): ListenAddress {
  try {
    return parseListenAddress(text);
  } catch (err) {
    throw new UsageError(`up: --${flag}: ${(err as Error).message}`);
  }
}
