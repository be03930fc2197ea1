/**
 * Where the client verbs (apply, get, delete, describe, why, logs) find tend: resources on a
 * Kubernetes API server when `--kubeconfig` is given, else in PostgreSQL — the database of
 * `--database-url`, of $DATABASE_URL, or of the `tend up` whose data folder is `--data-dir`
 * (default ./.tend, where `tend up` writes tend.json). The database is also where instances,
 * routing, the reconcile journal and (standalone) events are read from.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { admit } from '../api/admission.js';
import { KINDS, type KindInfo } from '../api/kinds.js';
import { RESOURCE_TYPES } from '../api/resource-types.js';
import { KubeClient, poolConnections, PostgresClient, type Resource, type ResourceClient, type ResourceType, Store } from '../framework/index.js';
import { KubeSecrets } from '../secrets/kube-secrets.js';
import { PostgresSecrets } from '../secrets/postgres-secrets.js';
import { UsageError } from './usage-error.js';

/** The flags every client verb takes, as parseArgs options. */
export const CONNECTION_OPTIONS = {
  kubeconfig: { type: 'string' },
  'database-url': { type: 'string' },
  'data-dir': { type: 'string' },
} as const;

export const CONNECTION_USAGE = `  --kubeconfig PATH     resources on this Kubernetes cluster (default: tend's own, in PostgreSQL)
  --database-url URL    tend's PostgreSQL (default: $DATABASE_URL, else the one \`tend up\` started)
  --data-dir DIR        the data folder of \`tend up\` (default: $TEND_DATA_DIR or ./.tend)`;

/** What `tend up` leaves in its data folder for the client verbs (mode 0600). */
export interface UpState {
  /** Without its password when `passwordFile` is set. */
  readonly databaseUrl: string;
  /** The embedded server's password (0600), added to `databaseUrl` by whoever connects. */
  readonly passwordFile?: string;
  readonly edge?: string;
  readonly metrics?: string;
  readonly pid?: number;
}

/** The file `tend up` writes into its data folder. */
export function upStateFile(dataDir: string): string {
  return join(dataDir, 'tend.json');
}

/** A connection to tend for one CLI run; `close()` when done. */
export interface Connection {
  /** The client of one kind. */
  client<T extends Resource = Resource>(info: KindInfo): ResourceClient<T>;
  /** tend's database, when one is known (always for the postgres backend). */
  readonly store: Store | undefined;
  /** Core API for events, on the kubernetes backend. */
  readonly core: CoreV1Api | undefined;
  /** The Secrets of the backend: the cluster's, or those tend stores sealed (standalone). */
  secrets(): KubeSecrets | PostgresSecrets;
  close(): Promise<void>;
}

/** Opens the connection the flags ask for; a UsageError when there is nothing to connect to. */
export function connect(values: { kubeconfig?: string | undefined; 'database-url'?: string | undefined; 'data-dir'?: string | undefined }, env: NodeJS.ProcessEnv = process.env): Connection {
  const databaseUrl = databaseUrlOf(values, env);
  const logger = pino({ level: 'silent' });
  const store = databaseUrl ? new Store({ connectionString: databaseUrl, logger, applicationName: 'tend cli', poolSize: 2 }) : undefined;
  let core: CoreV1Api | undefined;
  let make: (type: ResourceType) => ResourceClient;
  let makeSecrets: () => KubeSecrets | PostgresSecrets;
  if (values.kubeconfig) {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(values.kubeconfig);
    poolConnections(kubeConfig);
    core = kubeConfig.makeApiClient(CoreV1Api);
    make = (type) => new KubeClient(type, kubeConfig, 'tend-cli');
    makeSecrets = () => new KubeSecrets(kubeConfig, 'tend-cli');
  } else if (store && databaseUrl) {
    make = (type) => new PostgresClient(type, store, { listenUrl: databaseUrl, admit });
    makeSecrets = () => new PostgresSecrets(store, { listenUrl: databaseUrl });
  } else {
    throw new UsageError('no tend to talk to: start one with `tend up` (here, or pass --data-dir), or pass --database-url or --kubeconfig');
  }
  const clients = new Map<string, ResourceClient>();
  let secrets: KubeSecrets | PostgresSecrets | undefined;
  return {
    store,
    core,
    secrets: () => (secrets ??= makeSecrets()),
    client<T extends Resource>(info: KindInfo) {
      if (!clients.has(info.kind)) clients.set(info.kind, make(RESOURCE_TYPES[info.kind]!));
      return clients.get(info.kind) as unknown as ResourceClient<T>;
    },
    close: async () => store?.close(),
  };
}

/** The database the flags name: `--database-url`, `$DATABASE_URL`, or that of the `tend up` in the data folder. */
export function databaseUrlOf(values: { 'database-url'?: string | undefined; 'data-dir'?: string | undefined }, env: NodeJS.ProcessEnv): string | undefined {
  return values['database-url'] ?? env.DATABASE_URL ?? upDatabaseUrl(resolve(values['data-dir'] ?? env.TEND_DATA_DIR ?? '.tend'));
}

function upDatabaseUrl(dataDir: string): string | undefined {
  const file = upStateFile(dataDir);
  if (!existsSync(file)) return undefined;
  let state: UpState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as UpState;
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!state.passwordFile) return state.databaseUrl;
  let password: string;
  try {
    password = readFileSync(state.passwordFile, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`cannot read the password of tend up's PostgreSQL (${state.passwordFile}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const url = new URL(state.databaseUrl);
  url.password = password;
  return url.toString();
}

/** The kind a user typed: kind, plural, singular or short name, any case (`apps`, `tapp`, `App`). */
export function kindNamed(text: string): KindInfo {
  const lower = text.toLowerCase();
  const info = KINDS.find((k) => k.kind.toLowerCase() === lower || k.plural === lower || k.singular === lower || k.shortNames.includes(lower));
  if (!info) throw new UsageError(`unknown kind "${text}": one of ${KINDS.map((k) => k.plural).join(', ')}`);
  return info;
}

/** `KIND/NAME` or `KIND NAME` from positionals. */
export function kindAndName(verb: string, positionals: readonly string[]): { info: KindInfo; name: string } {
  const [first, second, ...rest] = positionals;
  if (first === undefined) throw new UsageError(`${verb} needs KIND/NAME`);
  if (first.includes('/')) {
    if (second !== undefined) throw new UsageError(`${verb}: give KIND/NAME or KIND NAME, not both`);
    const [kind, name] = first.split('/', 2) as [string, string];
    if (!name) throw new UsageError(`${verb}: missing name in "${first}"`);
    return { info: kindNamed(kind), name };
  }
  if (second === undefined || rest.length > 0) throw new UsageError(`${verb} needs KIND/NAME`);
  return { info: kindNamed(first), name: second };
}
