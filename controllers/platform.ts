/**
 * One replica of tend's control plane on the Kubernetes backend: clients for the five kinds,
 * the event recorder, and every platform controller on one Manager.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { resourceType } from '../api/resource-types.js';
import type { App } from '../api/types/app.js';
import type { Node } from '../api/types/node.js';
import type { Route } from '../api/types/route.js';
import type { Tenant } from '../api/types/tenant.js';
import type { Volume } from '../api/types/volume.js';
import { KubeClient } from '../framework/client/index.js';
import { KubeEventRecorder } from '../framework/events/index.js';
import { Manager, type ManagerOptions } from '../framework/runtime/manager.js';
import type { Store } from '../framework/store/index.js';
import type { PlatformDeps } from './platform-deps.js';
import { tenantController } from './tenant.js';
import { nodeController } from './node.js';
import { appController } from './app.js';
import { routeController } from './route.js';
import { DEFAULT_CLUSTER_CONFIG, type ClusterConfig } from '../reconcilers/node.js';

export interface PlatformOptions {
  readonly kubeConfig: KubeConfig;
  readonly store: Store;
  readonly logger: Logger;
  readonly replica: string;
  readonly healthPort?: number;
  readonly healthHost?: string;
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
}

/** Builds the manager with every platform controller; `manager.start(signal)` runs it. */
export function buildPlatform(options: PlatformOptions): Manager {
  const { kubeConfig, store, logger, replica } = options;
  const manager = new Manager({
    logger,
    replica,
    store,
    ...(options.membership !== undefined ? { membership: options.membership } : {}),
    ...(options.healthPort !== undefined ? { healthPort: options.healthPort } : {}),
    ...(options.healthHost !== undefined ? { healthHost: options.healthHost } : {}),
  });
  const fieldManager = 'tend-controller';
  const selector = options.selector ? { labelSelector: options.selector } : {};
  const deps: PlatformDeps = {
    manager,
    store,
    logger,
    recorder: new KubeEventRecorder(kubeConfig, { logger, component: 'tend-controller', instance: replica }),
    clients: {
      tenant: new KubeClient<Tenant>(resourceType('Tenant'), kubeConfig, fieldManager, selector),
      app: new KubeClient<App>(resourceType('App'), kubeConfig, fieldManager, selector),
      route: new KubeClient<Route>(resourceType('Route'), kubeConfig, fieldManager, selector),
      volume: new KubeClient<Volume>(resourceType('Volume'), kubeConfig, fieldManager, selector),
      node: new KubeClient<Node>(resourceType('Node'), kubeConfig, fieldManager, selector),
    },
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.resyncMs ? { resyncMs: options.resyncMs } : {}),
    ...(options.around ? { around: options.around } : {}),
  };
  manager.add(tenantController(deps));
  const cluster = { ...DEFAULT_CLUSTER_CONFIG, ...(options.cluster ?? {}) };
  const listenUrl = options.listenUrl ?? store.options.connectionString;
  manager.add(nodeController({ ...deps, cluster, listenUrl }));
  manager.add(appController({ ...deps, cluster, listenUrl }));
  manager.add(routeController({ ...deps, listenUrl }));
  return manager;
}
