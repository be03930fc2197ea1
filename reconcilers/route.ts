/**
 * The Route planner: a Route × its tenant, its App, the Routes and tenants around its host, and
 * the healthy instances → the routing row the edges serve, and the status. Pure.
 *
 * A host belongs to one tenant with all its path prefixes (reconcilers/host-claims.ts): the one
 * that may serve it (the most specific allowedHostnames entry, reconcilers/hostnames.ts) and
 * claimed it first. Another tenant's Route for it, whatever its prefix, reports `Accepted=False,
 * reason HostConflict` without naming who owns it. Within the owning tenant, Routes split the
 * host by path prefix; one prefix has one owner, the oldest Route (creation time, then
 * namespace/name), and a later one reports HostConflict naming it. When an owner goes, the next
 * in line takes over by itself.
 */
import type { Route, RouteRateLimitStatus, RouteStatus } from '../api/types/route.js';
import type { Tenant } from '../api/types/tenant.js';
import { type Condition, type ConditionUpdate, deepEqual, removeCondition, setCondition } from '../framework/index.js';
import { hostOwner, type HostClaim, type HostRoute } from './host-claims.js';
import { moreSpecificElsewhere } from './hostnames.js';
import { planRouteTls, type CertificateRow, type ObservedTls, type TlsStep } from './route-tls.js';

/**
 * `status.backends` lists at most this many (the schema's `maxItems`): a longer list would make
 * the API server refuse the whole status, and the Route would stop reporting. The routing row
 * keeps them all; Ready's message gives the full count.
 */
export const MAX_STATUS_BACKENDS = 1024;

/** One healthy backend of the App. */
export interface Backend {
  readonly address: string;
  readonly port: number;
  readonly instance: string;
}

/** What platform.routing holds for the Route's host and path prefix (possibly another Route's). */
export interface RoutingRow {
  readonly route: string;
  readonly backends: readonly Backend[];
  /** The tenant is suspended: the edge answers 503 "service suspended" instead of proxying. */
  readonly suspended: boolean;
  /** Plain HTTP gets 308 to https (spec.tls.redirect, once the host has a certificate). Absent: false. */
  readonly httpsRedirect?: boolean;
  /** The limit the edges enforce, over all of them together; null or absent: none. */
  readonly rateLimit?: RoutingRateLimit | null;
}

/** platform.routing's rate_limit: burst resolved. */
export interface RoutingRateLimit {
  readonly requestsPerSecond: number;
  readonly burst: number;
}

export interface RouteObserved {
  readonly tenant: Tenant | undefined;
  /** Every Route in the tenant's namespaces (this one included or not): counted for spec.quota.routes. */
  readonly tenantRoutes?: readonly Route[];
  readonly appExists: boolean;
  /** Every Route (any namespace, any path prefix) on the same host, with its namespace's tenant; this one included or not. */
  readonly hostRoutes: readonly HostRoute[];
  /** Every Tenant with an allowedHostnames entry that may match the host. */
  readonly hostTenants: readonly Tenant[];
  /** The claims on the host, and this Route's claims on any host (platform.host_claims). */
  readonly claims: readonly HostClaim[];
  readonly backends: readonly Backend[];
  readonly row: RoutingRow | undefined;
  /** Every host + path prefix this Route is served at now (more than one right after a host change). */
  readonly servedAt: readonly { readonly host: string; readonly pathPrefix: string }[];
  /** The Route's spec.tls as the controller found it (absent without spec.tls). */
  readonly tls?: ObservedTls;
  /** platform.certificates' row for the host, whichever Route wrote it. */
  readonly certificate?: CertificateRow;
  /** Hosts whose certificate rows this Route wrote. */
  readonly certificateHosts?: readonly string[];
}

export type RouteStep =
  | {
      readonly op: 'upsert-routing'; readonly host: string; readonly pathPrefix: string; readonly route: string; readonly backends: readonly Backend[];
      readonly suspended: boolean; readonly httpsRedirect?: true; readonly rateLimit?: RoutingRateLimit;
    }
  | { readonly op: 'delete-routing'; readonly host: string; readonly pathPrefix: string; readonly route: string }
  /** The Route no longer claims `host` (deleted, or moved to another host). */
  | { readonly op: 'release-host'; readonly host: string; readonly route: string }
  | TlsStep;

export interface RoutePlan {
  readonly steps: readonly RouteStep[];
  readonly status: RouteStatus;
  /** During deletion: the routing row is gone (or was never ours), so the finalizer may go. */
  readonly release: boolean;
  /** Plan again after this long even without a change: a certificate's expiry window opens, or its renewal falls due. */
  readonly recheckAfterMs?: number;
}

/** Whether `host` is allowed by one of `patterns` (`shop.acme.example`, or `*.acme.example` for any subdomain). */
export function hostAllowed(host: string, patterns: readonly string[]): boolean {
  const h = host.toLowerCase();
  return patterns.some((p) => {
    const pattern = p.toLowerCase();
    return pattern.startsWith('*.') ? h.endsWith(pattern.slice(1)) && h.length > pattern.length - 1 : h === pattern;
  });
}

/** The Route that owns its host + path prefix: the oldest, then by namespace/name. */
export function routeOwner(routes: readonly Route[]): Route | undefined {
  return [...routes].sort((a, b) => {
    const [ta, tb] = [a.metadata.creationTimestamp ?? '', b.metadata.creationTimestamp ?? ''];
    return ta < tb ? -1 : ta > tb ? 1 : nameOf(a) < nameOf(b) ? -1 : 1;
  })[0];
}

/** Plans one Route. `expiryWindowMs`: how long before expiry CertificateExpiring turns True (default 14 days). */
export function planRoute(route: Route, observed: RouteObserved, env: { readonly now: Date; readonly expiryWindowMs?: number }): RoutePlan {
  const me = nameOf(route);
  const host = route.spec!.host.toLowerCase();
  const pathPrefix = route.spec!.pathPrefix ?? '/';
  const ours = observed.row?.route === me;
  const steps: RouteStep[] = [];
  // Rows left behind at an old host or prefix (the spec changed) go first.
  for (const old of observed.servedAt) {
    if (old.host !== host || old.pathPrefix !== pathPrefix) steps.push({ op: 'delete-routing', host: old.host, pathPrefix: old.pathPrefix, route: me });
  }
  const deleting = route.metadata.deletionTimestamp !== undefined;
  if (deleting && ours) steps.push({ op: 'delete-routing', host, pathPrefix, route: me });
  // Claims go after the rows: nobody else is served at the host before we stop.
  for (const claimed of new Set(observed.claims.filter((c) => c.route === me && (deleting || c.host !== host)).map((c) => c.host))) {
    steps.push({ op: 'release-host', host: claimed, route: me });
  }
  if (deleting) {
    steps.push(...planRouteTls(tlsInput(route, observed, env, { accepted: false, deleting: true, tenant: undefined })).steps);
    return { steps, status: route.status ?? {}, release: true };
  }

  const tenantName = observed.tenant?.metadata.name;
  const hostRoutes = [{ route, tenant: observed.tenant }, ...observed.hostRoutes.filter((r) => nameOf(r.route) !== me)];
  const sameTenant = hostRoutes.filter((r) => r.tenant?.metadata.name === tenantName && (r.route.spec?.pathPrefix ?? '/') === pathPrefix);
  const owner = routeOwner([route, ...sameTenant.map((r) => r.route).filter((r) => nameOf(r) !== me)])!;
  const updates: ConditionUpdate[] = [];
  const specific = observed.tenant ? moreSpecificElsewhere(host, observed.tenant, observed.hostTenants) : undefined;
  const hostTenant = hostOwner(host, withOwnClaim(route, observed, env.now), hostRoutes, observed.hostTenants);
  let accepted = false;
  let overQuota: string | undefined;
  if (!observed.tenant) {
    updates.push({ type: 'Accepted', status: 'False', reason: 'NoTenant', message: `namespace ${route.metadata.namespace} belongs to no Tenant` });
  } else if (!hostAllowed(host, observed.tenant.spec?.allowedHostnames ?? [])) {
    const allowed = observed.tenant.spec?.allowedHostnames ?? [];
    updates.push({
      type: 'Accepted', status: 'False', reason: 'HostNotAllowed',
      message: `tenant ${observed.tenant.metadata.name} allows ${allowed.length ? allowed.join(', ') : 'no host names'}, not ${host}`,
    });
  } else if (specific !== undefined) {
    updates.push({
      type: 'Accepted', status: 'False', reason: 'HostConflict',
      message: `host ${host} belongs to another tenant, whose allowedHostnames entry ${specific} is more specific than this tenant's; it serves every path of the host`,
    });
  } else if (hostTenant !== tenantName) {
    updates.push({
      type: 'Accepted', status: 'False', reason: 'HostConflict',
      message: `host ${host} belongs to another tenant, which claimed it first; a host is served by one tenant with all its path prefixes`,
    });
  } else if ((overQuota = routeQuotaVerdict(route, observed.tenantRoutes ?? [], observed.tenant))) {
    updates.push({ type: 'Accepted', status: 'False', reason: 'QuotaExceeded', message: overQuota });
  } else if (nameOf(owner) !== me) {
    updates.push({ type: 'Accepted', status: 'False', reason: 'HostConflict', message: `${host}${pathPrefix} is served by route ${nameOf(owner)}, created first` });
  } else {
    accepted = true;
    updates.push({ type: 'Accepted', status: 'True', reason: 'Accepted', message: '' });
  }
  updates.push(
    observed.appExists
      ? { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: '' }
      : { type: 'ResolvedRefs', status: 'False', reason: 'AppNotFound', message: `app ${route.metadata.namespace}/${route.spec!.app} does not exist` },
  );
  const tls = planRouteTls(tlsInput(route, observed, env, { accepted, deleting: false, tenant: tenantName, hostRoutes }));
  // A suspended tenant keeps its hosts (nobody else may take them) but serves nothing: 503.
  const suspended = accepted && observed.tenant?.spec?.suspended === true;
  const backends = accepted && observed.appExists && !suspended ? [...observed.backends].sort((a, b) => a.instance.localeCompare(b.instance)) : [];
  const accept = updates.find((u) => u.type === 'Accepted')!;
  const resolved = updates.find((u) => u.type === 'ResolvedRefs')!;
  updates.push(
    accept.status !== 'True'
      ? { ...accept, type: 'Ready' }
      : resolved.status !== 'True'
        ? { ...resolved, type: 'Ready' }
        : suspended
          ? { type: 'Ready', status: 'False', reason: 'TenantSuspended', message: `tenant ${observed.tenant!.metadata.name} is suspended: requests get 503 "service suspended"` }
          : tls.notReady
          ? tls.notReady
          : backends.length === 0
          ? { type: 'Ready', status: 'False', reason: 'NoHealthyBackends', message: `no instance of app ${route.spec!.app} is ready: requests get 503` }
          : { type: 'Ready', status: 'True', reason: 'Serving', message: `${backends.length} healthy backend${backends.length === 1 ? '' : 's'}` },
  );

  // Certificates go first: a redirect written with the routing row finds its host's certificate in place.
  steps.push(...tls.steps);
  const limit = accepted ? rateLimitOf(route, observed.tenant) : undefined;
  if (accepted) {
    const redirect = tls.redirect && !suspended;
    const rateLimit = limit && { requestsPerSecond: limit.requestsPerSecond, burst: limit.burst };
    if (
      !ours || observed.row!.suspended !== suspended || (observed.row!.httpsRedirect ?? false) !== redirect || !deepEqual(observed.row!.backends, backends) ||
      !deepEqual(observed.row!.rateLimit ?? null, rateLimit ?? null)
    ) {
      steps.push({ op: 'upsert-routing', host, pathPrefix, route: me, backends, suspended, ...(redirect ? { httpsRedirect: true as const } : {}), ...(rateLimit ? { rateLimit } : {}) });
    }
  } else if (ours) {
    steps.push({ op: 'delete-routing', host, pathPrefix, route: me });
  }
  const generation = route.metadata.generation ?? 0;
  let conditions: Condition[] = route.status?.conditions ?? [];
  for (const update of updates) conditions = setCondition(conditions, update, { now: env.now, generation }).conditions;
  for (const update of tls.conditions) conditions = setCondition(conditions, update, { now: env.now, generation }).conditions;
  for (const type of ['CertificateReady', 'CertificateExpiring']) {
    if (!tls.conditions.some((c) => c.type === type)) conditions = removeCondition(conditions, type).conditions;
  }
  const status: RouteStatus = {
    ...(accepted ? { url: `${tls.https ? 'https' : 'http'}://${host}${pathPrefix}` } : {}),
    backends: backends.slice(0, MAX_STATUS_BACKENDS).map((b) => `${b.address}:${b.port}`),
    ...(limit ? { rateLimit: limit } : {}),
    conditions,
    observedGeneration: generation,
  };
  return { steps, status, release: false, ...(tls.recheckAfterMs !== undefined ? { recheckAfterMs: tls.recheckAfterMs } : {}) };
}

function tlsInput(
  route: Route,
  observed: RouteObserved,
  env: { readonly now: Date; readonly expiryWindowMs?: number },
  at: { readonly accepted: boolean; readonly deleting: boolean; readonly tenant: string | undefined; readonly hostRoutes?: readonly HostRoute[] },
): Parameters<typeof planRouteTls>[0] {
  return {
    route,
    accepted: at.accepted,
    deleting: at.deleting,
    hostRoutes: at.hostRoutes ?? observed.hostRoutes,
    tenant: at.tenant,
    tls: observed.tls,
    row: observed.certificate,
    rowsOfRoute: observed.certificateHosts ?? [],
    now: env.now,
    ...(env.expiryWindowMs !== undefined ? { expiryWindowMs: env.expiryWindowMs } : {}),
  };
}

/**
 * The rate limit the edges enforce for an accepted Route: its own spec.rateLimit, else its
 * tenant's spec.defaultRateLimit (whole, per Route), burst defaulting to one second's worth.
 */
export function rateLimitOf(route: Route, tenant: Tenant | undefined): RouteRateLimitStatus | undefined {
  const own = route.spec?.rateLimit;
  const limit = own ?? tenant?.spec?.defaultRateLimit;
  if (!limit) return undefined;
  return { requestsPerSecond: limit.requestsPerSecond, burst: limit.burst ?? limit.requestsPerSecond, source: own ? 'Route' : 'Tenant' };
}

/** The claims, with this Route's own counted as made now if it is not recorded (the controller records it before planning). */
function withOwnClaim(route: Route, observed: RouteObserved, now: Date): readonly HostClaim[] {
  const me = nameOf(route);
  const host = route.spec!.host.toLowerCase();
  const tenant = observed.tenant?.metadata.name;
  if (!tenant || observed.claims.some((c) => c.host === host && c.route === me && c.tenant === tenant && c.routeUid === (route.metadata.uid ?? ''))) return observed.claims;
  return [...observed.claims, { host, route: me, routeUid: route.metadata.uid ?? '', tenant, claimedAt: now }];
}

/**
 * The tenant's route quota: Routes count in creation order (ties by namespace/name), so the routes
 * that existed first keep serving and the newest wait. Undefined when `route` is within it.
 */
export function routeQuotaVerdict(route: Route, tenantRoutes: readonly Route[], tenant: Tenant): string | undefined {
  const limit = tenant.spec?.quota?.routes;
  if (limit === undefined) return undefined;
  const me = nameOf(route);
  const others = tenantRoutes.filter((r) => nameOf(r) !== me);
  const rank = others.filter((r) => routeOwner([r, route]) === r).length;
  if (rank < limit) return undefined;
  return `tenant ${tenant.metadata.name}'s route quota: ${limit} route${limit === 1 ? '' : 's'} allowed, this is route ${rank + 1} of ${others.length + 1}; it is not served`;
}

function nameOf(route: Route): string {
  return `${route.metadata.namespace}/${route.metadata.name}`;
}
