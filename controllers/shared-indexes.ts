/**
 * Indexes that several controllers put on the same shared informers, defined once so that each
 * controller asks the same question the same way.
 */
import type { App } from '../api/types/app.js';
import type { Tenant } from '../api/types/tenant.js';
import { keyOf, type Key } from '../framework/reconcile/index.js';
import type { Informer } from '../framework/source/index.js';
import { tenantOfNamespace } from '../reconcilers/tenant.js';
import type { PlatformDeps } from './platform-deps.js';

/** Index of Tenants by each namespace they claim. */
export const CLAIMS = 'claims';

/** Index of Apps by each Volume they mount (`namespace/name`). */
export const MOUNTS = 'mounts';

/** The Volumes an App mounts, as keys. */
export function mountedVolumes(app: App): Key[] {
  return (app.spec?.volumes ?? []).map((v) => keyOf(app.metadata.namespace, v.volume));
}

/** The shared Tenants informer, indexed by claimed namespace. */
export function tenantsByNamespace(deps: PlatformDeps): Informer<Tenant> {
  return deps.manager.informer(deps.clients.tenant, { indexers: { [CLAIMS]: (t: Tenant) => t.spec?.namespaces ?? [] } });
}

/** The Tenant that owns `namespace` (the oldest claim wins), if any. */
export function owningTenant(tenants: Informer<Tenant>, namespace: string): Tenant | undefined {
  return tenantOfNamespace(namespace, tenants.cache.byIndex(CLAIMS, namespace));
}
