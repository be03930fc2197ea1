/**
 * Indexes that several controllers put on the same shared informers, defined once so that each
 * controller asks the same question the same way.
 */
import type { App } from '../api/types/app.js';
import type { Tenant } from '../api/types/tenant.js';
import { findCondition, type Informer, type Key, keyOf, type Predicate, type Queryable, specOrMetadataChanged } from '../framework/index.js';
import { hostKeys, overlapKeys, patternKeys } from '../reconcilers/hostnames.js';
import { namespaceOwner, type NamespaceClaim } from '../reconcilers/namespace-claims.js';
import { claimsOfNamespace, claimsOfNamespaces } from './namespace-claim-queries.js';
import type { PlatformDeps } from './platform-deps.js';

/** Index of Tenants by each namespace they claim. */
export const CLAIMS = 'claims';

/** Index of Tenants by their allowedHostnames (reconcilers/hostnames.ts patternKeys). */
export const HOSTNAMES = 'hostnames';

/** Index of Apps by each Volume they mount (`namespace/name`). */
export const MOUNTS = 'mounts';

/** The Volumes an App mounts, as keys. */
export function mountedVolumes(app: App): Key[] {
  return (app.spec?.volumes ?? []).map((v) => keyOf(app.metadata.namespace, v.volume));
}

/** The shared Tenants informer, indexed by claimed namespace and by host name pattern. */
export function tenantsByNamespace(deps: PlatformDeps): Informer<Tenant> {
  return deps.manager.informer(deps.clients.tenant, {
    indexers: { [CLAIMS]: (t: Tenant) => t.spec?.namespaces ?? [], [HOSTNAMES]: (t: Tenant) => [...new Set((t.spec?.allowedHostnames ?? []).flatMap(patternKeys))] },
  });
}

/** The Tenants whose allowedHostnames may match `host`. */
export function tenantsForHost(tenants: Informer<Tenant>, host: string): Tenant[] {
  return uniqueTenants(hostKeys(host).flatMap((k) => tenants.cache.byIndex(HOSTNAMES, k)));
}

/** The other Tenants whose allowedHostnames may overlap `tenant`'s. */
export function overlappingTenants(tenants: Informer<Tenant>, tenant: Tenant): Tenant[] {
  const found = (tenant.spec?.allowedHostnames ?? []).flatMap(overlapKeys).flatMap((k) => tenants.cache.byIndex(HOSTNAMES, k));
  return uniqueTenants(found).filter((t) => t.metadata.name !== tenant.metadata.name);
}

function uniqueTenants(list: readonly Tenant[]): Tenant[] {
  return [...new Map(list.map((t) => [t.metadata.name, t])).values()];
}

/**
 * The Tenant that owns `namespace`: the first claim recorded in platform.namespace_claims whose
 * Tenant is in the cache and still lists it (reconcilers/namespace-claims.ts), if any.
 */
export async function owningTenant(store: Queryable, tenants: Informer<Tenant>, namespace: string): Promise<Tenant | undefined> {
  const claims = await store.query<NamespaceClaim>(claimsOfNamespace, [namespace]);
  return namespaceOwner(namespace, claims, (name) => tenants.cache.get(keyOf(undefined, name)));
}

/**
 * The namespaces `tenant` lists and owns (one query): what its app and route quotas count, so a
 * namespace it lists but another tenant claimed first adds nothing to its counts.
 */
export async function ownedNamespaces(store: Queryable, tenants: Informer<Tenant>, tenant: Tenant): Promise<string[]> {
  const listed = [...new Set(tenant.spec?.namespaces ?? [])];
  if (listed.length === 0) return [];
  const claims = await store.query<NamespaceClaim>(claimsOfNamespaces, [listed]);
  return listed.filter((ns) => namespaceOwner(ns, claims, (name) => tenants.cache.get(keyOf(undefined, name)))?.metadata.name === tenant.metadata.name);
}

/**
 * A Tenant change that can move the owner of its namespaces: spec or metadata, or its
 * NamespacesClaimed condition. The Tenant controller writes that condition after the claims, so
 * whoever it wakes reads the claims as they now are (a new Tenant's first claim, a namespace
 * handed on when its first claimant let go).
 */
export const tenancyChanged: Predicate<Tenant> = (change) => {
  if (specOrMetadataChanged(change) || !change.old) return true;
  const claimed = (t: Tenant) => {
    const c = findCondition(t.status?.conditions, 'NamespacesClaimed');
    return c ? `${c.status} ${c.reason} ${c.message}` : '';
  };
  return claimed(change.old) !== claimed(change.object);
};
