/**
 * One replica of tend's control plane: clients for the five kinds, the event recorder, and every
 * platform controller on one Manager. With a kubeConfig, resources live on that Kubernetes API
 * server; without one (standalone mode) they live in PostgreSQL, in the same store.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { resourceType } from '../api/resource-types.js';
import type { App } from '../api/types/app.js';
import type { Node } from '../api/types/node.js';
import type { Route } from '../api/types/route.js';
import type { Tenant } from '../api/types/tenant.js';
import type { Volume } from '../api/types/volume.js';
import { admit } from '../api/admission.js';
import {
  KubeClient, KubeEventRecorder, Manager, type ManagerOptions, PostgresClient, PostgresEventRecorder,
  type Resource, type ResourceClient, resourceEventPruner, type ResourceType, type Store,
} from '../framework/index.js';
import type { PlatformDeps } from './platform-deps.js';
import { KubeSecrets } from '../secrets/kube-secrets.js';
import { PostgresSecrets } from '../secrets/postgres-secrets.js';
import type { SealingKey } from '../secrets/seal.js';
import type { CertificateIssuer } from '../certificates/issuer.js';
import { tenantController } from './tenant.js';
import { nodeController } from './node.js';
import { appController } from './app.js';
import { orphanInstanceCollector } from './orphan-instances.js';
import { routeController } from './route.js';
import { volumeController } from './volume.js';
import { DEFAULT_CLUSTER_CONFIG, type ClusterConfig } from '../reconcilers/node.js';

export interface PlatformOptions {
  /** The Kubernetes API server that stores resources; absent: they are stored in PostgreSQL. */
  readonly kubeConfig?: KubeConfig;
  readonly store: Store;
  readonly logger: Logger;
  readonly replica: string;
  readonly healthPort?: number;
  readonly healthHost?: string;
  readonly onHealthListening?: ManagerOptions['onHealthListening'];
  readonly membership?: ManagerOptions['membership'];
  /** Workers per controller. @default 4 */
  readonly concurrency?: number;
  /** Cluster-wide settings (CPU overcommit, memory buffer, heartbeat timing). @default DEFAULT_CLUSTER_CONFIG */
  readonly cluster?: Partial<ClusterConfig>;
  /** Direct PostgreSQL URL for LISTEN (not through a transaction-pooling PgBouncer). @default the store's */
  readonly listenUrl?: string;
  /** Reconcile only objects with these labels (`tend.dev/shard=a`): several control planes, one API server. */
  readonly selector?: string;
  /** Resync period of every controller. @default 600_000 */
  readonly resyncMs?: number;
  readonly around?: PlatformDeps['around'];
  /**
   * Standalone mode: the control plane's key, which opens the Secrets tend stores (sealed to it).
   * Without it, Apps that reference such Secrets report SecretNotFound. @default none
   */
  readonly secretsKey?: SealingKey;
  /** How often each replica looks for instances whose App is gone. @default 30_000 */
  readonly orphanSweepMs?: number;
  /** Certificate issuers Routes may name in spec.tls.issuer (tend up's local CA). @default none */
  readonly issuers?: readonly CertificateIssuer[];
  /** How long before a certificate expires its Routes say CertificateExpiring=True. @default 14 days */
  readonly certificateExpiryWindowMs?: number;
}

/** Builds the manager with every platform controller; `manager.start(signal)` runs it. */
export function buildPlatform(options: PlatformOptions): Manager {
  const { store, logger, replica } = options;
  const manager = new Manager({
    logger,
    replica,
    store,
    ...(options.membership !== undefined ? { membership: options.membership } : {}),
    ...(options.healthPort !== undefined ? { healthPort: options.healthPort } : {}),
    ...(options.healthHost !== undefined ? { healthHost: options.healthHost } : {}),
    ...(options.onHealthListening ? { onHealthListening: options.onHealthListening } : {}),
  });
  const listenUrl = options.listenUrl ?? store.options.connectionString;
  const backend = options.kubeConfig ? kubeBackend(options.kubeConfig, replica, logger, options.selector) : postgresBackend(store, listenUrl, replica, logger, options.secretsKey);
  const deps: PlatformDeps = {
    manager,
    store,
    logger,
    ...backend,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.resyncMs ? { resyncMs: options.resyncMs } : {}),
    ...(options.around ? { around: options.around } : {}),
  };
  const cluster = { ...DEFAULT_CLUSTER_CONFIG, ...(options.cluster ?? {}) };
  manager.add(tenantController({ ...deps, listenUrl }));
  manager.add(nodeController({ ...deps, cluster, listenUrl }));
  manager.add(appController({ ...deps, cluster, listenUrl }));
  manager.add(routeController({
    ...deps,
    listenUrl,
    tls: { issuers: options.issuers ?? [], ...(options.certificateExpiryWindowMs !== undefined ? { expiryWindowMs: options.certificateExpiryWindowMs } : {}) },
  }));
  manager.add(volumeController({ ...deps, cluster, listenUrl }));
  manager.add(orphanInstanceCollector(deps, options.orphanSweepMs ? { everyMs: options.orphanSweepMs } : {}));
  // Resources in PostgreSQL: their watch log needs compaction, as etcd's does.
  if (!options.kubeConfig) manager.add(resourceEventPruner({ store, logger }));
  return manager;
}

type Backend = Pick<PlatformDeps, 'clients' | 'recorder' | 'secrets'>;

function kubeBackend(kubeConfig: KubeConfig, replica: string, logger: Logger, labelSelector: string | undefined): Backend {
  const selector = labelSelector ? { labelSelector } : {};
  return {
    recorder: new KubeEventRecorder(kubeConfig, { logger, component: 'tend-controller', instance: replica }),
    clients: platformClients((type) => new KubeClient(type, kubeConfig, 'tend-controller', selector)),
    // Secrets carry no shard labels: every replica watches all of them (keys and versions only).
    secrets: new KubeSecrets(kubeConfig, 'tend-controller'),
  };
}

/** Resources in PostgreSQL, admitted by the same schemas and rules as the CRDs. Label selectors do not apply. */
function postgresBackend(store: Store, listenUrl: string, replica: string, logger: Logger, secretsKey: SealingKey | undefined): Backend {
  return {
    recorder: new PostgresEventRecorder(store, { logger, reporter: replica }),
    clients: platformClients((type) => new PostgresClient(type, store, { listenUrl, admit })),
    secrets: new PostgresSecrets(store, { listenUrl, ...(secretsKey ? { key: secretsKey } : {}) }),
  };
}

/** The five kinds' clients from one factory. */
export function platformClients(client: (type: ResourceType) => ResourceClient): PlatformDeps['clients'] {
  const of = <T extends Resource>(kind: Parameters<typeof resourceType>[0]) => client(resourceType(kind)) as unknown as ResourceClient<T>;
  return { tenant: of<Tenant>('Tenant'), app: of<App>('App'), route: of<Route>('Route'), volume: of<Volume>('Volume'), node: of<Node>('Node') };
}
