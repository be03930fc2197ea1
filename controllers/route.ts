/**
 * The Route controller: keeps platform.routing — what the edges serve — in line with Routes and
 * instance health, and platform.certificates in line with their spec.tls (route-tls.ts), and
 * reports Accepted / ResolvedRefs / Ready, CertificateReady / CertificateExpiring. Instance
 * changes wake it through LISTEN tend_instances; Route, App, Tenant and Secret changes through
 * their informers; a certificate's expiry window or renewal by a timer of its own.
 */
import type { App } from '../api/types/app.js';
import type { Route } from '../api/types/route.js';
import type { CertificateIssuer } from '../certificates/issuer.js';
import {
  byNamespace, type Controller, done, fencedTx, keyOf, keyOfObject, postgresSource, type Predicate,
  type ReconcileContext, requeueAfter, type Result, specOrMetadataChanged, watches, withFinalizer, writeStatus, type PostgresListener,
} from '../framework/index.js';
import type { Tenant } from '../api/types/tenant.js';
import { claimNeeded, type HostClaim, type HostRoute } from '../reconcilers/host-claims.js';
import { matchedKeys, patternKeys } from '../reconcilers/hostnames.js';
import { namespaceOwner, type NamespaceClaim } from '../reconcilers/namespace-claims.js';
import { planRoute, type Backend, type RoutePlan, type RoutingRow } from '../reconcilers/route.js';
import { claimsOfNamespaces } from './namespace-claim-queries.js';
import { platformController, type PlatformDeps } from './platform-deps.js';
import { CLAIMS, ownedNamespaces, tenancyChanged, tenantsByNamespace, tenantsForHost } from './shared-indexes.js';
import { hostClaims, insertHostClaim, lockHostClaims, releaseHostClaim } from './route-host-queries.js';
import { backendsOfApp, deleteRouting, routingOfRoute, selectRouting, upsertRouting } from './route-queries.js';
import { routeTls } from './route-tls.js';

/** Keeps a Route until the edges no longer serve it. */
export const ROUTE_FINALIZER = 'tend.dev/route';
/** Index of Routes by host (`n:HOST`) and each parent domain of it (`a:DOMAIN`): reconcilers/hostnames.ts patternKeys. */
const HOST_KEYS = 'host-keys';
const APP = 'app';

const hostOf = (r: Route) => r.spec?.host.toLowerCase() ?? '';

/** What the Route controller needs for TLS. */
export interface RouteTlsOptions {
  /** The issuers spec.tls.issuer may name. @default none */
  readonly issuers?: readonly CertificateIssuer[];
  /** How long before expiry CertificateExpiring turns True. @default 14 days */
  readonly expiryWindowMs?: number;
}

/** Builds the Route controller. */
export function routeController(deps: PlatformDeps & { readonly listener: PostgresListener; readonly tls?: RouteTlsOptions }): Controller<Route> {
  const { manager, clients, store } = deps;
  const routes = manager.informer(clients.route, {
    indexers: { [HOST_KEYS]: (r: Route) => patternKeys(hostOf(r)), [APP]: (r: Route) => [`${r.metadata.namespace}/${r.spec?.app}`], namespace: byNamespace },
  });
  const tls = routeTls({ ...deps, issuers: deps.tls?.issuers ?? [] }, routes);
  const resyncMs = deps.resyncMs ?? 600_000;
  const apps = manager.informer(clients.app, { indexers: { namespace: byNamespace } });
  const tenants = tenantsByNamespace(deps);

  const routesOfTenant = (t: Tenant) => (t.spec?.namespaces ?? []).flatMap((ns) => routes.cache.byIndex('namespace', ns));
  // A Route coming or going moves the others of a tenant with a route quota up or down the count.
  const quotaPeers = (r: Route) =>
    tenants.cache.byIndex(CLAIMS, r.metadata.namespace ?? '').filter((t) => t.spec?.quota?.routes !== undefined).flatMap(routesOfTenant).map(keyOfObject);

  /** The Routes on `host`, each with the Tenant that owns its namespace (one query for all of them). */
  async function hostRoutes(host: string, ns: string): Promise<{ list: HostRoute[]; tenantOf: (ns: string) => Tenant | undefined }> {
    const list = routes.cache.byIndex(HOST_KEYS, `n:${host}`);
    const namespaces = [...new Set([ns, ...list.map((r) => r.metadata.namespace!)])];
    const claims = await store.query<NamespaceClaim>(claimsOfNamespaces, [namespaces]);
    const tenantOf = (n: string) => namespaceOwner(n, claims, (name) => tenants.cache.get(keyOf(undefined, name)));
    return { list: list.map((route) => ({ route, tenant: tenantOf(route.metadata.namespace!) })), tenantOf };
  }

  /**
   * The claims on the Route's host (and its own elsewhere), after recording its claim if it must
   * make one now: read back once committed, so its place in line is the one every replica sees.
   */
  async function claims(ctx: ReconcileContext, route: Route, tenant: Tenant | undefined, hostTenants: readonly Tenant[]): Promise<HostClaim[]> {
    const me = `${route.metadata.namespace}/${route.metadata.name}`;
    const read = () => store.query<HostClaim>(hostClaims, [hostOf(route), me]);
    const recorded = await read();
    const claim = claimNeeded(route, tenant, recorded, hostTenants);
    if (!claim) return recorded;
    await fencedTx(store, ctx.fence, async (tx) => {
      await tx.query(lockHostClaims);
      await tx.query(insertHostClaim, [claim.host, me, route.metadata.uid ?? '', claim.tenant, String(ctx.fence)]);
    });
    ctx.log.info({ host: claim.host, tenant: claim.tenant }, 'host claimed');
    return read();
  }

  /** The plan, or `stale` while the Route's TLS Secret changed since the cache saw it. */
  async function plan(ctx: ReconcileContext, route: Route): Promise<RoutePlan | 'stale'> {
    const ns = route.metadata.namespace!;
    const host = hostOf(route);
    const [backends, [row], servedAt, around, certificates] = await Promise.all([
      store.query<Backend>(backendsOfApp, [`${ns}/${route.spec!.app}`]),
      store.query<RoutingRow>(selectRouting, [host, route.spec!.pathPrefix ?? '/']),
      store.query<{ host: string; pathPrefix: string }>(routingOfRoute, [`${ns}/${route.metadata.name}`]),
      hostRoutes(host, ns),
      tls.observe(route),
    ]);
    if (certificates === 'stale') return 'stale';
    const tenant = around.tenantOf(ns);
    const hostTenants = tenantsForHost(tenants, host);
    return planRoute(route, {
      tenant,
      ...(tenant?.spec?.quota?.routes !== undefined ? { tenantRoutes: (await ownedNamespaces(store, tenants, tenant)).flatMap((n) => routes.cache.byIndex('namespace', n)) } : {}),
      appExists: apps.cache.get(keyOf(ns, route.spec!.app)) !== undefined,
      hostRoutes: around.list,
      hostTenants,
      claims: await claims(ctx, route, tenant, hostTenants),
      backends,
      row,
      servedAt,
      ...(certificates.tls ? { tls: certificates.tls } : {}),
      ...(certificates.certificate ? { certificate: certificates.certificate } : {}),
      certificateHosts: certificates.certificateHosts,
    }, { now: ctx.now(), ...(deps.tls?.expiryWindowMs !== undefined ? { expiryWindowMs: deps.tls.expiryWindowMs } : {}) });
  }

  async function execute(ctx: ReconcileContext, p: RoutePlan): Promise<void> {
    const fence = String(ctx.fence);
    for (const step of p.steps) {
      if (step.op === 'upsert-certificate' || step.op === 'delete-certificate' || step.op === 'issue-certificate') {
        await tls.execute(ctx, step);
      } else if (step.op === 'upsert-routing') {
        const rateLimit = step.rateLimit ? JSON.stringify(step.rateLimit) : null;
        await store.query(upsertRouting, [step.host, step.pathPrefix, step.route, JSON.stringify(step.backends), fence, step.suspended, step.httpsRedirect ?? false, rateLimit]);
        ctx.log.info({ host: step.host, pathPrefix: step.pathPrefix, backends: step.backends.length, suspended: step.suspended, httpsRedirect: step.httpsRedirect ?? false, rateLimit: step.rateLimit }, 'routing updated');
      } else if (step.op === 'delete-routing') {
        await store.query(deleteRouting, [step.host, step.pathPrefix, step.route, fence]);
        ctx.log.info({ host: step.host, pathPrefix: step.pathPrefix }, 'routing removed');
      } else {
        await store.query(releaseHostClaim, [step.host, step.route, fence]);
        ctx.log.info({ host: step.host }, 'host claim released');
      }
    }
  }

  const reconcile = (ctx: ReconcileContext, route: Route): Promise<Result> =>
    withFinalizer(clients.route, route, ROUTE_FINALIZER, {
      apply: async (current) => {
        const p = await plan(ctx, current);
        if (p === 'stale') return requeueAfter(500);
        await execute(ctx, p);
        // A certificate just issued: plan once more, so that status.url and the redirect follow it.
        if (p.steps.some((s) => s.op === 'issue-certificate')) return requeueAfter(0);
        await writeStatus(clients.route, current, p.status);
        // A certificate's expiry window opens, or its renewal falls due, before the next resync.
        return p.recheckAfterMs !== undefined && p.recheckAfterMs < resyncMs ? requeueAfter(p.recheckAfterMs + 1_000) : done();
      },
      cleanup: async (current) => {
        const p = await plan(ctx, current);
        if (p === 'stale') throw new Error('the Route\'s TLS Secret changed meanwhile; retrying');
        await execute(ctx, p);
        return 'removed';
      },
    });

  const routesOf = (keys: readonly string[]) => keys.flatMap((k) => routes.cache.byIndex(APP, k)).map(keyOfObject);
  return platformController(deps, 'route', routes, reconcile, [
    tls.source,
    // A Route that comes or goes changes who owns its host and path.
    watches(routes, (r) => routes.cache.byIndex(HOST_KEYS, `n:${hostOf(r)}`).map(keyOfObject), specOrMetadataChanged),
    watches(routes, quotaPeers, (c) => c.type !== 'updated'),
    watches(apps, (a) => routesOf([`${a.metadata.namespace}/${a.metadata.name}`]), specOrMetadataChanged as Predicate<App>),
    // A Tenant's namespaces or host names change who may serve the hosts its patterns match, for
    // other tenants' Routes too (a more specific entry added or dropped, a namespace handed on).
    watches(tenants, (t) => [
      ...(t.spec?.namespaces ?? []).flatMap((ns) => routes.cache.byIndex('namespace', ns)),
      ...(t.spec?.allowedHostnames ?? []).flatMap(matchedKeys).flatMap((k) => routes.cache.byIndex(HOST_KEYS, k)),
    ].map(keyOfObject), tenancyChanged),
    postgresSource({
      name: 'route-instances',
      listener: deps.listener,
      channel: 'tend_instances',
      // Notifications sent while LISTEN was reconnecting are lost: look at every object again.
      resync: async () => routes.cache.keys(),
      map: (payload) => routesOf([payload.split(' ')[0] ?? '']),
      logger: deps.logger,
    }),
  ]);
}
