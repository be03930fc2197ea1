import type { Logger } from 'pino';
import type { App } from '../api/types/app.js';
import type { Node } from '../api/types/node.js';
import type { Route } from '../api/types/route.js';
import type { Tenant } from '../api/types/tenant.js';
import type { Volume } from '../api/types/volume.js';
import {
  Controller, type EventRecorder, type Informer, type Manager, type Reconciler, type Resource,
  type ResourceClient, type Source, type Store,
} from '../framework/index.js';
import type { SecretBackend } from '../secrets/secret-backend.js';

/** What every platform controller is built from; the same whichever backend stores resources. */
export interface PlatformDeps {
  readonly manager: Manager;
  readonly clients: {
    readonly tenant: ResourceClient<Tenant>;
    readonly app: ResourceClient<App>;
    readonly route: ResourceClient<Route>;
    readonly volume: ResourceClient<Volume>;
    readonly node: ResourceClient<Node>;
  };
  readonly store: Store;
  readonly recorder: EventRecorder;
  /** The Secrets App env entries reference: the cluster's, or those tend stores (standalone). */
  readonly secrets: SecretBackend;
  readonly logger: Logger;
  /** Workers per controller. @default 4 */
  readonly concurrency?: number;
  /** Look at every object again after this long, so missed events heal. @default 600_000 */
  readonly resyncMs?: number;
  /** Wraps every reconciler (benchmarks add latency and count runs; tracing could hook here). */
  readonly around?: <T extends Resource>(controller: string, reconcile: Reconciler<T>) => Reconciler<T>;
}


/** A platform controller on `deps`: shared ownership, metrics, logger and tuning, and the `around` hook. */
export function platformController<T extends Resource>(
  deps: PlatformDeps,
  name: string,
  informer: Informer<T>,
  reconcile: Reconciler<T>,
  watches: readonly Source[],
): Controller<T> {
  return new Controller<T>({
    name,
    informer,
    reconcile: deps.around ? deps.around(name, reconcile) : reconcile,
    logger: deps.logger,
    ownership: deps.manager.ownership,
    metrics: deps.manager.metrics,
    ...(deps.manager.journal ? { onReconciled: deps.manager.journal.record } : {}),
    watches,
    ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    ...(deps.resyncMs ? { resyncMs: deps.resyncMs } : {}),
  });
}
