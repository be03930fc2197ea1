/**
 * Host claims: which tenant a host belongs to, with all its path prefixes. Pure.
 *
 * Each Route records in platform.host_claims when it claimed its host for its tenant; a tenant's
 * later Routes on the host inherit its earliest claim time, so its place in line survives the
 * Route that made it. The host belongs to the tenant with the earliest valid claim: its Route is
 * still on the host (same uid), its namespace still belongs to that tenant, and the tenant may
 * serve the host (allowedHostnames, and no other tenant's pattern for it is more specific:
 * reconcilers/hostnames.ts). Another tenant's Route for that host, whatever its path prefix, is
 * refused with HostConflict: a tenant never gets a slice of another's host.
 */
import type { Route } from '../api/types/route.js';
import type { Tenant } from '../api/types/tenant.js';
import { bestPattern, moreSpecificElsewhere } from './hostnames.js';

/** One row of platform.host_claims. */
export interface HostClaim {
  readonly host: string;
  /** namespace/name of the Route that made the claim. */
  readonly route: string;
  readonly routeUid: string;
  readonly tenant: string;
  readonly claimedAt: Date;
}

/** A Route on the host, with the Tenant that owns its namespace now. */
export interface HostRoute {
  readonly route: Route;
  readonly tenant: Tenant | undefined;
}

const keyOf = (route: Route) => `${route.metadata.namespace}/${route.metadata.name}`;

/** Whether `tenant` may serve `host`: one of its patterns matches and no other tenant's (`hostTenants`) is more specific. */
export function mayServe(host: string, tenant: Tenant | undefined, hostTenants: readonly Tenant[]): tenant is Tenant {
  return tenant !== undefined && bestPattern(host, tenant.spec?.allowedHostnames ?? []) !== undefined && moreSpecificElsewhere(host, tenant, hostTenants) === undefined;
}

/** Earliest claim first, then by route (claims are serialised, so equal times come from one tenant). */
function byTime(a: HostClaim, b: HostClaim): number {
  const dt = a.claimedAt.getTime() - b.claimedAt.getTime();
  return dt !== 0 ? dt : a.route < b.route ? -1 : a.route > b.route ? 1 : 0;
}

/**
 * The tenant that owns `host`: the one with the earliest valid claim (see the module notes). A
 * claim whose Route is gone, moved to another host, was re-created or changed tenant is passed over.
 */
export function hostOwner(host: string, claims: readonly HostClaim[], hostRoutes: readonly HostRoute[], hostTenants: readonly Tenant[]): string | undefined {
  const routes = new Map(hostRoutes.map((r) => [keyOf(r.route), r]));
  for (const claim of claims.filter((c) => c.host === host).sort(byTime)) {
    const r = routes.get(claim.route);
    if (!r || (r.route.metadata.uid ?? '') !== claim.routeUid || r.route.spec?.host.toLowerCase() !== host) continue;
    if (r.tenant?.metadata.name !== claim.tenant || !mayServe(host, r.tenant, hostTenants)) continue;
    return claim.tenant;
  }
  return undefined;
}

/**
 * Whether `route` must claim its host now: its tenant may serve it and the Route holds no claim
 * on it for that tenant yet (a claim waits its turn behind earlier ones; it is not a grant).
 */
export function claimNeeded(route: Route, tenant: Tenant | undefined, claims: readonly HostClaim[], hostTenants: readonly Tenant[]): { host: string; tenant: string } | undefined {
  const host = route.spec!.host.toLowerCase();
  if (route.metadata.deletionTimestamp || !mayServe(host, tenant, hostTenants)) return undefined;
  const me = keyOf(route);
  const held = claims.some((c) => c.host === host && c.route === me && c.routeUid === (route.metadata.uid ?? '') && c.tenant === tenant.metadata.name);
  return held ? undefined : { host, tenant: tenant.metadata.name };
}
