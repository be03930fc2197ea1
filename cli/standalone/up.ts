/**
 * Standalone mode (`tend up`): the whole platform on one machine in one process — an embedded
 * PostgreSQL (data kept in the data folder and reused), the controllers with resources stored in
 * PostgreSQL (or on a Kubernetes API server with a kubeconfig), one node agent for this machine
 * and the edge. The same code as the separate `tend run`, `tend agent` and `tend edge` processes.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { CERTIFICATES_SNAPSHOT_FILE, SNAPSHOT_FILE, formatListenAddress, runEdge, type ListenAddress } from '../../agents/edge/index.js';
import { runNodeAgent } from '../../agents/node/agent.js';
import { ProcessRuntime } from '../../agents/node/runtime/index.js';
import { FolderBackupStore } from '../../agents/node/volumes/folder-backup-store.js';
import { applyManifests } from '../apply.js';
import { connect, upStateFile, type UpState } from '../connection.js';
import { enroll } from '../enroll.js';
import { redactedUrl } from '../redacted-url.js';
import type { CliIo } from '../io.js';
import { CERTIFICATES_KEY_FILE, publishCertificatesPublicKey } from '../../certificates/certificates-key.js';
import { LocalCa } from '../../certificates/local-ca.js';
import { buildPlatform } from '../../controllers/platform.js';
import { createLogger, frameworkMigrations, migrate, Store } from '../../framework/index.js';
import { platformMigrations } from '../../migrations/index.js';
import { loadOrCreateSealingKey, loadSealingKey } from '../../secrets/key-file.js';
import { PostgresSecrets } from '../../secrets/postgres-secrets.js';
import { postgresDir, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { tendCommand } from '../invocation.js';
import { firstStartExamples } from './examples.js';
import { terminalLogStream } from './terminal-log-stream.js';

export interface UpOptions {
  /** Holds PostgreSQL's data, the agent's state, tend.log and tend.json. */
  readonly dataDir: string;
  /** Use this PostgreSQL instead of starting the embedded one. */
  readonly databaseUrl?: string;
  /** Keep resources on this Kubernetes cluster instead of in PostgreSQL. */
  readonly kubeconfig?: string;
  /** The control plane's sealing key for stored Secrets (0600; must exist). @default `<dataDir>/secrets.key`, made on the first start */
  readonly secretsKeyFile?: string;
  /** Where the edge listens. */
  readonly listen: ListenAddress;
  /** Where the edge listens for HTTPS. @default none */
  readonly httpsListen?: ListenAddress;
  /** Port of the controllers' /metrics, /healthz, /readyz (0: a free one). */
  readonly metricsPort: number;
  /** This machine's Node name. */
  readonly node: string;
  /** Apply examples/ when the data folder is new. */
  readonly examples: boolean;
  readonly logLevel: string;
  readonly io: CliIo;
}

/** Runs everything until `signal` aborts, then stops it all (instances and PostgreSQL too). */
export async function runUp(options: UpOptions, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const { dataDir, io } = options;
  mkdirSync(dataDir, { recursive: true });
  const logFile = join(dataDir, 'tend.log');
  const logger = createLogger({
    level: options.logLevel,
    replica: 'up',
    destination: pino.multistream([
      { level: options.logLevel as pino.Level, stream: pino.destination({ dest: logFile, sync: false }) },
      { level: 'warn', stream: terminalLogStream(io) },
    ]),
  });
  const stateFile = upStateFile(dataDir);
  const previous = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as UpState & { examplesApplied?: boolean }) : undefined;

  let postgres: EmbeddedPostgres | undefined;
  const passwordFile = join(dataDir, 'postgres.password');
  if (!options.databaseUrl) postgres = await startEmbeddedPostgres({ dir: postgresDir(dataDir), passwordFile });
  const databaseUrl = options.databaseUrl ?? postgres!.databaseUrl;
  const stores: Store[] = [];
  const store = (name: string, poolSize: number, connectionString = databaseUrl): Store => {
    const s = new Store({ connectionString, logger, applicationName: `tend up ${name}`, poolSize });
    stores.push(s);
    return s;
  };
  // Stored Secrets are sealed to this key (resources in PostgreSQL only: on a cluster they are its Secrets).
  const secretsKey = options.kubeconfig ? undefined : options.secretsKeyFile ? loadSealingKey(options.secretsKeyFile) : loadOrCreateSealingKey(join(dataDir, 'secrets.key'));
  // HTTPS: the edge's certificates key (private keys in PostgreSQL are sealed to it) and the local
  // CA that issues for Routes with spec.tls.issuer: local.
  const certificatesKey = loadOrCreateSealingKey(join(dataDir, 'edge', CERTIFICATES_KEY_FILE));
  const { ca: localCa, made: caMade } = await LocalCa.loadOrCreate(join(dataDir, 'ca'));
  const agentDir = join(dataDir, `agent-${options.node}`);
  // Sandboxed when this host allows it (root); the data folder (PostgreSQL, tend.json, logs, the
  // agent's state) is hidden from instances, which run in the current folder.
  const runtime = new ProcessRuntime({ stateDir: agentDir, logger, workingDir: process.cwd(), sandbox: 'auto', hiddenPaths: [dataDir, ...(options.secretsKeyFile ? [options.secretsKeyFile] : [])] });
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const controllerStore = store('controllers', 10);
    await migrate(controllerStore, { tracks: [frameworkMigrations, platformMigrations] });
    if (secretsKey) await PostgresSecrets.publishKey(controllerStore, secretsKey);
    await publishCertificatesPublicKey(controllerStore, certificatesKey);
    // The agent and the edge get logins of their own, as on a cluster (migrations/000009), with
    // passwords made afresh at every start and never written anywhere.
    const agentUrl = await ownLogin(controllerStore, 'node', options.node, databaseUrl, io);
    const edgeUrl = await ownLogin(controllerStore, 'edge', options.node, databaseUrl, io);
    let examplesApplied = previous?.examplesApplied ?? false;
    // The embedded server's password stays in its own 0600 file; a given URL is kept as given (0600).
    const state: UpState = postgres ? { databaseUrl: withoutPassword(databaseUrl), passwordFile, pid: process.pid } : { databaseUrl, pid: process.pid };
    writeState(stateFile, { ...state, examplesApplied });

    let examplesLine = '';
    if (options.examples && !examplesApplied) {
      const connection = connect({ 'database-url': databaseUrl, ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}) }, {});
      try {
        const lines: string[] = [];
        const { failed } = await applyManifests(connection, firstStartExamples(), 'default', { out: (l) => lines.push(l), err: (l) => lines.push(l), readStdin: () => '' });
        examplesLine = `examples     applied on first start: ${lines.map((l) => l.replace(/^\S+?\.tend\.dev\//, '').replace(/ created$/, '')).join(', ')}${failed ? ' (some failed, see above)' : ''}`;
        if (failed) for (const l of lines) io.err(l);
      } finally {
        await connection.close();
      }
      examplesApplied = true;
      writeState(stateFile, { ...state, examplesApplied });
    }

    let kubeConfig: KubeConfig | undefined;
    if (options.kubeconfig) {
      kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(options.kubeconfig);
    }
    const running: Promise<void>[] = [];
    let metricsPort = 0;
    let healthListened: () => void = () => {};
    const healthListening = new Promise<void>((resolve) => (healthListened = resolve));
    const manager = buildPlatform({
      store: controllerStore,
      logger,
      replica: 'up',
      healthPort: options.metricsPort,
      onHealthListening: (port) => {
        metricsPort = port;
        healthListened();
      },
      membership: { joinDelayMs: 0 },
      // One user's own machine: Apps run here also where instances cannot be sandboxed (not root).
      cluster: { allowUnisolatedNodes: true },
      ...(kubeConfig ? { kubeConfig } : {}),
      ...(secretsKey ? { secretsKey } : {}),
      issuers: [localCa],
    });
    running.push(manager.start(stop.signal));
    let edgeLine = '';
    let httpsLine = '';
    const edgeListening = new Promise<void>((resolve, reject) => {
      running.push(
        runEdge(
          {
            store: store('edge', 2, edgeUrl),
            listenUrl: edgeUrl,
            logger: logger.child({ component: 'edge' }),
            listen: options.listen,
            ...(options.httpsListen ? { httpsListen: options.httpsListen, certificatesKey } : {}),
            adminListen: { host: '127.0.0.1', port: 0 },
            snapshotFile: join(dataDir, 'edge', SNAPSHOT_FILE),
            certificatesSnapshotFile: join(dataDir, 'edge', CERTIFICATES_SNAPSHOT_FILE),
            onListening: (edge) => {
              edgeLine = formatListenAddress(edge.address);
              httpsLine = edge.httpsAddress ? formatListenAddress(edge.httpsAddress, 'https') : '';
              resolve();
            },
          },
          stop.signal,
        ).catch((err: unknown) => {
          reject(err as Error);
          throw err;
        }),
      );
    });
    running.push(
      runNodeAgent(
        {
          node: options.node,
          store: store('agent', 2, agentUrl),
          listenUrl: agentUrl,
          runtime,
          memoryEnforcement: runtime.memoryEnforcement,
          isolation: runtime.isolation,
          stateDir: agentDir,
          backupStore: new FolderBackupStore(join(dataDir, 'backups')),
          logger: logger.child({ component: 'agent' }),
          workingDir: process.cwd(),
        },
        stop.signal,
      ),
    );
    await Promise.race([Promise.all([healthListening, edgeListening]), Promise.all(running)]);
    if (!stop.signal.aborted) {
      writeState(stateFile, { ...state, examplesApplied, edge: edgeLine, ...(httpsLine ? { https: httpsLine } : {}), metrics: `http://127.0.0.1:${metricsPort}/metrics` });
      printSummary(io, {
        seconds: (Date.now() - started) / 1000,
        backend: kubeConfig ? `Kubernetes (${options.kubeconfig})` : 'PostgreSQL',
        edge: edgeLine,
        https: httpsLine,
        ca: `${localCa.certificateFile}${caMade ? ' (made now)' : ''}`,
        metrics: `http://127.0.0.1:${metricsPort}`,
        database: postgres ? `${redactedUrl(databaseUrl)} (embedded; password in ${passwordFile}${postgres.adopted ? ', adopted from an earlier run' : ''}; data in ${postgresDir(dataDir)})` : redactedUrl(databaseUrl),
        node: options.node,
        dataDir,
        logFile,
        examplesLine,
      });
    }
    await Promise.all(running);
  } finally {
    signal.removeEventListener('abort', onAbort);
    stop.abort();
    await runtime.close({ stopInstances: true });
    await Promise.all(stores.map((s) => s.close().catch(() => {})));
    await postgres?.stop();
    logger.flush();
  }
}

function writeState(file: string, state: object): void {
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // a tend.json of an earlier version may be older and wider
}

function withoutPassword(url: string): string {
  const parsed = new URL(url);
  parsed.password = '';
  return parsed.toString();
}

/**
 * Enrolls the agent or edge of this machine and returns its URL; where the database role cannot
 * create roles (a --database-url without CREATEROLE), says so and returns the controllers' URL.
 */
async function ownLogin(store: Store, kind: 'node' | 'edge', name: string, databaseUrl: string, io: CliIo): Promise<string> {
  try {
    return await enroll(store, kind, name, databaseUrl);
  } catch (err) {
    io.err(`tend up: warning: the ${kind === 'node' ? 'agent' : 'edge'} runs with the controllers' database role, not one of its own: ${(err as Error).message}`);
    return databaseUrl;
  }
}

function printSummary(
  io: CliIo,
  s: { seconds: number; backend: string; edge: string; https: string; ca: string; metrics: string; database: string; node: string; dataDir: string; logFile: string; examplesLine: string },
): void {
  const httpsPort = s.https ? new URL(s.https).port : '';
  const caFile = s.ca.replace(/ \(made now\)$/, '');
  const tend = tendCommand();
  const lines = [
    `tend is up (${s.seconds.toFixed(1)} s) — resources in ${s.backend}`,
    `  edge         ${s.edge}    try: curl -H 'Host: hello.localhost' ${s.edge}/`,
    ...(s.https
      ? [
          `  https        ${s.https}    try: curl --cacert ${caFile} https://hello.localhost${httpsPort === '443' ? '' : `:${httpsPort}`}/`,
          `  local CA     ${s.ca}: signs *.localhost names only. To trust it system-wide:`,
          `               Debian/Ubuntu: sudo cp ${caFile} /usr/local/share/ca-certificates/tend-local-ca.crt && sudo update-ca-certificates`,
          `               macOS: sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${caFile}`,
          `               Firefox keeps its own store: Settings → Certificates → Import`,
        ]
      : []),
    `  metrics      ${s.metrics}/metrics    health: ${s.metrics}/healthz, /readyz`,
    `  database     ${s.database}`,
    `  node         ${s.node} (this machine; its agent runs here)`,
    `  data folder  ${s.dataDir}`,
    `  log          ${s.logFile} (warnings and errors also here)`,
    ...(s.examplesLine ? [`  ${s.examplesLine}`] : []),
    '',
    `In another terminal: ${tend} get apps · ${tend} why app/hello · ${tend} logs -f · ${tend} apply -f FILE`,
    'Ctrl-C stops everything (instances and PostgreSQL too); the next `tend up` continues with the same data.',
  ];
  for (const line of lines) io.out(line);
}
