/**
 * `tend run`: one replica of tend's control plane on the Kubernetes backend. Any number may run at
 * once; they share the work through PostgreSQL (docs/coordination.md). SIGTERM or SIGINT drains
 * in-flight reconciles (up to 30 s), leaves the member list, closes the pool and exits 0.
 */
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { buildPlatform } from '../controllers/platform.js';
import { LocalCa } from '../certificates/local-ca.js';
import { createLogger, frameworkMigrations, migrate, Store } from '../framework/index.js';
import { platformMigrations } from '../migrations/index.js';
import { parseDuration } from './duration.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';
import { wholeNumber } from './whole-number.js';

/** Usage text of the verb. */
export const RUN_USAGE = `Usage: tend run [options]

Run one replica of tend's controllers against a Kubernetes API server and PostgreSQL.
Start as many replicas as you like: there is no leader; they share keys through PostgreSQL.

Options:
  --kubeconfig PATH       kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
  --database-url URL      PostgreSQL (default: $DATABASE_URL); with standbys, list them all:
                          postgres://h1,h2/tend?target_session_attrs=read-write (follows failovers)
  --replica NAME          this replica's name in logs and the member list (default: $TEND_REPLICA or host-pid)
  --health-port N         serve /healthz, /readyz and /metrics on this port (default: none)
  --health-host ADDR      address for the health port (default: 127.0.0.1; 0.0.0.0 in a pod)
  --selector LABELS       reconcile only objects with these labels, e.g. tend.dev/shard=a (default: all)
  --concurrency N         workers per controller (default: 4)
  --cpu-overcommit-ratio X  CPU sold X times over on every node (default: 4); same on every replica
  --node-heartbeat-ms N   agents' heartbeat period; a node is lost after 3 missed (default: 5000)
  --lost-grace-ms N       a lost node's stateless instances move after this long (default: 30000)
  --no-tenant-grace D     an App whose namespace no Tenant owns stops its instances after this long, e.g. 90s (default: 5m)
  --allow-unisolated-nodes  also place Apps on nodes whose agent cannot sandbox instances (Node
                          Isolated=False: not root, no util-linux); same on every replica (default: off)
  --max-instances-per-node N  most instances placed on one node, whatever their sizes (default: 250)
  --deleted-backup-retention D  the backups of a deleted Volume are kept this long, restorable by its tenant, e.g. 720h (default: 168h)
  --statement-timeout-ms N  PostgreSQL ends any statement running this long; a query with no answer
                          at all 5 s past it is a dead connection, dropped and retried (default: 30000)
  --log-level LEVEL       trace|debug|info|warn|error (default: info)
  --heartbeat-ms N        membership heartbeat period (default: 2000)
  --member-ttl-ms N       a replica silent this long loses its keys (default: 10000)
  --join-delay-ms N       a new replica takes keys after this delay (default: 3000)
  --local-ca-dir DIR      let Routes name issuer: local (spec.tls), a certificate authority kept in
                          DIR (ca.crt, ca.key 0600; made there when missing) that signs *.localhost
                          names only; the same DIR on every replica (default: no issuer)
  --certificate-expiry-window D  Routes say CertificateExpiring=True this long before their
                          certificate expires, e.g. 720h (default: 336h, 14 days)
  -h, --help              show this help`;

/** Run `tend run`; resolves with the exit code once the replica has stopped. */
export async function runRun(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parse(args);
  if (values.help) {
    io.out(RUN_USAGE);
    return EXIT.ok;
  }
  const databaseUrl = values['database-url'] ?? env.DATABASE_URL;
  if (!databaseUrl) throw new UsageError('run needs --database-url or DATABASE_URL');
  const replica = values.replica ?? env.TEND_REPLICA ?? `${hostname()}-${process.pid}`;
  const logger = createLogger({ level: values['log-level'] ?? 'info', replica });
  const kubeConfig = new KubeConfig();
  if (values.kubeconfig) kubeConfig.loadFromFile(values.kubeconfig);
  else kubeConfig.loadFromDefault();

  const membership = {
    ...(values['heartbeat-ms'] ? { heartbeatMs: number(values['heartbeat-ms'], 'heartbeat-ms') } : {}),
    ...(values['member-ttl-ms'] ? { ttlMs: number(values['member-ttl-ms'], 'member-ttl-ms') } : {}),
    ...(values['join-delay-ms'] !== undefined ? { joinDelayMs: number(values['join-delay-ms'], 'join-delay-ms') } : {}),
  };
  // Every flag is checked before anything connects: a typo fails at once, not after the migrations.
  const tuning = {
    ...(values['health-port'] ? { healthPort: number(values['health-port'], 'health-port') } : {}),
    ...(values['health-host'] ? { healthHost: values['health-host'] } : {}),
    ...(values.concurrency ? { concurrency: number(values.concurrency, 'concurrency') } : {}),
    ...(values.selector ? { selector: values.selector } : {}),
    cluster: {
      ...(values['cpu-overcommit-ratio'] ? { cpuOvercommitRatio: ratio(values['cpu-overcommit-ratio']) } : {}),
      ...(values['node-heartbeat-ms'] ? { heartbeatMs: number(values['node-heartbeat-ms'], 'node-heartbeat-ms') } : {}),
      ...(values['lost-grace-ms'] ? { lostGraceMs: number(values['lost-grace-ms'], 'lost-grace-ms') } : {}),
      ...(values['no-tenant-grace'] ? { noTenantGraceMs: parseDuration('run', 'no-tenant-grace', values['no-tenant-grace']) } : {}),
      ...(values['allow-unisolated-nodes'] ? { allowUnisolatedNodes: true } : {}),
      ...(values['deleted-backup-retention'] ? { deletedBackupRetentionMs: parseDuration('run', 'deleted-backup-retention', values['deleted-backup-retention']) } : {}),
      ...(values['max-instances-per-node'] ? { maxInstancesPerNode: number(values['max-instances-per-node'], 'max-instances-per-node') } : {}),
    },
  };

  const tls = values['certificate-expiry-window'] ? { certificateExpiryWindowMs: parseDuration('run', 'certificate-expiry-window', values['certificate-expiry-window']) } : {};
  const statementTimeoutMs = values['statement-timeout-ms'] === undefined ? undefined : wholeNumber('run', 'statement-timeout-ms', values['statement-timeout-ms'], 1);
  const store = new Store({ connectionString: databaseUrl, logger, applicationName: `tend ${replica}`, ...(statementTimeoutMs ? { statementTimeoutMs } : {}) });
  const applied = await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  if (applied.length > 0) logger.info({ applied: applied.map((m) => m.name) }, 'applied migrations');
  const issuers = values['local-ca-dir'] ? [(await LocalCa.loadOrCreate(values['local-ca-dir'])).ca] : [];
  const manager = buildPlatform({ kubeConfig, store, logger, replica, membership, ...tuning, issuers, ...tls });

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) {
      logger.warn({ signal }, 'second signal: exiting without draining');
      process.exit(EXIT.invalid);
    }
    logger.info({ signal }, 'stopping: draining in-flight reconciles');
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await manager.start(stop.signal);
  logger.info('stopped');
  return EXIT.ok;
}

function parse(args: readonly string[]) {
  return parseVerbArgs(
    'run',
    args,
    {
      kubeconfig: { type: 'string' },
      'database-url': { type: 'string' },
      replica: { type: 'string' },
      'health-port': { type: 'string' },
      'health-host': { type: 'string' },
      concurrency: { type: 'string' },
      selector: { type: 'string' },
      'cpu-overcommit-ratio': { type: 'string' },
      'node-heartbeat-ms': { type: 'string' },
      'max-instances-per-node': { type: 'string' },
      'lost-grace-ms': { type: 'string' },
      'no-tenant-grace': { type: 'string' },
      'allow-unisolated-nodes': { type: 'boolean' },
      'deleted-backup-retention': { type: 'string' },
      'statement-timeout-ms': { type: 'string' },
      'log-level': { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      'member-ttl-ms': { type: 'string' },
      'join-delay-ms': { type: 'string' },
      'local-ca-dir': { type: 'string' },
      'certificate-expiry-window': { type: 'string' },
    },
    false,
  );
}

function ratio(text: string): number {
  const value = Number(text);
  if (!(value >= 1)) throw new UsageError(`run: --cpu-overcommit-ratio must be a number ≥ 1, got "${text}"`);
  return value;
}

function number(text: string, flag: string): number {
  return wholeNumber('run', flag, text);
}
