/**
 * Namespace claims: which tenant a namespace belongs to. Pure.
 *
 * A namespace goes to the tenant that claimed it first. platform.namespace_claims records when each
 * Tenant first listed it (one row per namespace and tenant, kept while the Tenant lists it); the
 * owner is the earliest claim whose Tenant still exists under the same uid and still lists the
 * namespace. The age of the Tenant object does not count: an older Tenant that adds `shop` later
 * waits behind the tenant already using it, whatever order the events arrive in.
 */
import type { Tenant } from '../api/types/tenant.js';

/** One row of platform.namespace_claims. */
export interface NamespaceClaim {
  readonly namespace: string;
  readonly tenant: string;
  readonly tenantUid: string;
  readonly claimedAt: Date;
}

/** What a Tenant's claims need: namespaces to claim now, and its claims to give up. */
export interface ClaimPlan {
  readonly claim: readonly string[];
  readonly release: readonly string[];
}

/** Earliest claim first; equal times (never seen: claims are serialised) by tenant name. */
export function byClaimOrder(a: NamespaceClaim, b: NamespaceClaim): number {
  const dt = a.claimedAt.getTime() - b.claimedAt.getTime();
  return dt !== 0 ? dt : a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0;
}

/**
 * The Tenant that owns `namespace`: the first claim (by claim time) whose Tenant `tenantNamed`
 * knows under the claim's uid and that still lists the namespace. A claim left by a deleted or
 * re-created Tenant, or by one that no longer lists it, is passed over.
 */
export function namespaceOwner(
  namespace: string,
  claims: readonly NamespaceClaim[],
  tenantNamed: (name: string) => Tenant | undefined,
): Tenant | undefined {
  for (const claim of claims.filter((c) => c.namespace === namespace).sort(byClaimOrder)) {
    const tenant = tenantNamed(claim.tenant);
    if (tenant && (tenant.metadata.uid ?? '') === claim.tenantUid && (tenant.spec?.namespaces ?? []).includes(namespace)) return tenant;
  }
  return undefined;
}

/**
 * What `tenant`'s claims need, given the claims PostgreSQL holds for its namespaces and under its
 * name: a claim for each namespace it lists without one (a Tenant being deleted claims nothing
 * new), and the release of every claim under its name for a namespace it no longer lists.
 */
export function planClaims(tenant: Tenant, claims: readonly NamespaceClaim[]): ClaimPlan {
  const name = tenant.metadata.name;
  const listed = new Set(tenant.spec?.namespaces ?? []);
  const own = claims.filter((c) => c.tenant === name);
  const claim = tenant.metadata.deletionTimestamp
    ? []
    : [...listed].filter((ns) => !own.some((c) => c.namespace === ns && c.tenantUid === (tenant.metadata.uid ?? ''))).sort();
  const release = [...new Set(own.filter((c) => !listed.has(c.namespace)).map((c) => c.namespace))].sort();
  return { claim, release };
}
