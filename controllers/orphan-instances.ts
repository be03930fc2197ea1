/**
 * Collects instances whose App is gone, as Kubernetes' garbage collector does for objects whose
 * owner was deleted. The App finalizer stops an App's instances before it lets the App go, but a
 * placement that commits just after the deleting replica saw zero instances (ownership of the key
 * moving between replicas mid-way) leaves a running instance nothing else would ever stop.
 *
 * Each replica sweeps the apps it owns: one that has instances but is absent from the informer is
 * read from the API (the cache may lag); when that says it does not exist either, its instances are
 * stopped and, once stopped, forgotten — fenced, like every other write; then its volume claims
 * go, so an App waiting for its volumes gets them. Idempotent, no leader.
 */
import { type Key, type NamedQuery, type Runnable, sleep } from '../framework/index.js';
import type { DrainableInstance } from '../reconcilers/app-cleanup.js';
import { instancesOfApp } from './app-queries.js';
import { drainInstances } from './instance-steps.js';
import type { PlatformDeps } from './platform-deps.js';
import { appsWithVolumeClaims, releaseVolumeClaims } from './volume-claim-queries.js';

/** The apps that have instance rows. */
const appsWithInstances: NamedQuery = {
  name: 'platform.apps_with_instances',
  text: `select distinct app from platform.instances`,
};

/** The sweep as a Manager runnable; `everyMs` defaults to 30 s. */
export function orphanInstanceCollector(deps: PlatformDeps, options: { readonly everyMs?: number } = {}): Runnable {
  const { manager, clients, store, logger } = deps;
  const apps = manager.informer(clients.app);
  const log = logger.child({ controller: 'orphan-instances' });

  async function sweep(): Promise<void> {
    if (!apps.hasSynced) return;
    const rows = [...await store.query<{ app: string }>(appsWithInstances, []), ...await store.query<{ app: string }>(appsWithVolumeClaims, [])];
    for (const app of new Set(rows.map((r) => r.app))) {
      const key = app as Key;
      if (!manager.ownership.owns('app', key) || apps.cache.get(key)) continue;
      if (await clients.app.get(key)) continue; // the cache lags: the App exists
      const instances = await store.query<DrainableInstance>(instancesOfApp, [app]);
      log.info({ app, instances: instances.map((i) => i.id) }, 'collecting the instances and volume claims of a deleted App');
      const fence = manager.ownership.fence();
      if (await drainInstances(store, fence, instances, 'its App is gone')) await store.query(releaseVolumeClaims, [app, [], String(fence)]);
    }
  }

  return {
    name: 'orphan-instances',
    async start(signal: AbortSignal): Promise<void> {
      while (!signal.aborted) {
        await sweep().catch((err: Error) => log.warn({ err: err.message }, 'orphan sweep failed; trying again later'));
        await sleep(options.everyMs ?? 30_000, signal);
      }
    },
  };
}
