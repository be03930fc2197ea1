/**
 * The Route controller: keeps platform.routing — what the edges serve — in line with Routes and
 * instance health, and reports Accepted / ResolvedRefs / Ready. Instance changes wake it through
 * LISTEN tend_instances; Route, App and Tenant changes through their informers.
 */
import type { App } from '../api/types/app.js';
import type { Route } from '../api/types/route.js';
import { keyOfObject } from '../framework/client/index.js';
import { withFinalizer } from '../framework/finalizers/with-finalizer.js';
import { done, keyOf, type ReconcileContext, type Result } from '../framework/reconcile/index.js';
import type { Controller } from '../framework/runtime/controller.js';
import { byNamespace, specOrMetadataChanged, watches, type Predicate } from '../framework/source/index.js';
import { postgresSource } from '../framework/source/postgres.js';
import { writeStatus } from '../framework/status/write-status.js';
import { planRoute, type Backend, type RoutePlan, type RoutingRow } from '../reconcilers/route.js';
import { platformController, type PlatformDeps } from './platform-deps.js';
import { owningTenant, tenancyChanged, tenantsByNamespace } from './shared-indexes.js';
import { backendsOfApp, deleteRouting, routingOfRoute, selectRouting, upsertRouting } from './route-queries.js';

/** Keeps a Route until the edges no longer serve it. */
export const ROUTE_FINALIZER = 'tend.dev/route';
const HOST_PATH = 'host-path';
const APP = 'app';

const hostPath = (r: Route) => `${r.spec?.host.toLowerCase()} ${r.spec?.pathPrefix ?? '/'}`;

/** Builds the Route controller. */
export function routeController(deps: PlatformDeps & { readonly listenUrl: string }): Controller<Route> {
  const { manager, clients, store } = deps;
  const routes = manager.informer(clients.route, {
    indexers: { [HOST_PATH]: (r: Route) => [hostPath(r)], [APP]: (r: Route) => [`${r.metadata.namespace}/${r.spec?.app}`], namespace: byNamespace },
  });
  const apps = manager.informer(clients.app, { indexers: { namespace: byNamespace } });
  const tenants = tenantsByNamespace(deps);

  async function plan(ctx: ReconcileContext, route: Route): Promise<RoutePlan> {
    const ns = route.metadata.namespace!;
    const [backends, [row], servedAt] = await Promise.all([
      store.query<Backend>(backendsOfApp, [`${ns}/${route.spec!.app}`]),
      store.query<RoutingRow>(selectRouting, [route.spec!.host.toLowerCase(), route.spec!.pathPrefix ?? '/']),
      store.query<{ host: string; pathPrefix: string }>(routingOfRoute, [`${ns}/${route.metadata.name}`]),
    ]);
    return planRoute(route, {
      tenant: await owningTenant(store, tenants, ns),
      appExists: apps.cache.get(keyOf(ns, route.spec!.app)) !== undefined,
      competitors: routes.cache.byIndex(HOST_PATH, hostPath(route)),
      backends,
      row,
      servedAt,
    }, { now: ctx.now() });
  }

  async function execute(ctx: ReconcileContext, p: RoutePlan): Promise<void> {
    const fence = String(ctx.fence);
    for (const step of p.steps) {
      if (step.op === 'upsert-routing') {
        await store.query(upsertRouting, [step.host, step.pathPrefix, step.route, JSON.stringify(step.backends), fence, step.suspended]);
        ctx.log.info({ host: step.host, pathPrefix: step.pathPrefix, backends: step.backends.length, suspended: step.suspended }, 'routing updated');
      } else {
        await store.query(deleteRouting, [step.host, step.pathPrefix, step.route, fence]);
        ctx.log.info({ host: step.host, pathPrefix: step.pathPrefix }, 'routing removed');
      }
    }
  }

  const reconcile = (ctx: ReconcileContext, route: Route): Promise<Result> =>
    withFinalizer(clients.route, route, ROUTE_FINALIZER, {
      apply: async (current) => {
        const p = await plan(ctx, current);
        await execute(ctx, p);
        await writeStatus(clients.route, current, p.status);
        return done();
      },
      cleanup: async (current) => {
        await execute(ctx, await plan(ctx, current));
        return 'removed';
      },
    });

  const routesOf = (keys: readonly string[]) => keys.flatMap((k) => routes.cache.byIndex(APP, k)).map(keyOfObject);
  return platformController(deps, 'route', routes, reconcile, [
    // A Route that comes or goes changes who owns its host and path.
    watches(routes, (r) => routes.cache.byIndex(HOST_PATH, hostPath(r)).map(keyOfObject), specOrMetadataChanged),
    watches(apps, (a) => routesOf([`${a.metadata.namespace}/${a.metadata.name}`]), specOrMetadataChanged as Predicate<App>),
    watches(tenants, (t) => (t.spec?.namespaces ?? []).flatMap((ns) => routes.cache.byIndex('namespace', ns)).map(keyOfObject), tenancyChanged),
    postgresSource({
      name: 'route-instances',
      connectionString: deps.listenUrl,
      channel: 'tend_instances',
      map: (payload) => routesOf([payload.split(' ')[0] ?? '']),
      logger: deps.logger,
    }),
  ]);
}
