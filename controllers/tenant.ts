/**
 * The Tenant controller: watches Tenants, and Apps, Routes and Volumes in their namespaces;
 * observes the caches and PostgreSQL, asks reconcilers/tenant.ts for a plan, executes it.
 */
import type { App } from '../api/types/app.js';
import type { Route } from '../api/types/route.js';
import type { Tenant } from '../api/types/tenant.js';
import type { Volume } from '../api/types/volume.js';
import {
  byNamespace, type Controller, done, findCondition, type Informer, keyOf, keyOfObject, postgresSource,
  type Predicate, type ReconcileContext, type Resource, type Result, specOrMetadataChanged, watches,
  withFinalizer, writeStatus, type PostgresListener,
} from '../framework/index.js';
import { planClaims, type NamespaceClaim } from '../reconcilers/namespace-claims.js';
import { planTenant, type PlacedUsage, type TenantPlan, type TenantRow } from '../reconcilers/tenant.js';
import { claimsOfTenant, insertClaims, releaseAllClaims, releaseClaims } from './namespace-claim-queries.js';
import { platformController, type PlatformDeps } from './platform-deps.js';
import { CLAIMS, overlappingTenants, tenantsByNamespace } from './shared-indexes.js';
import { deleteTenantRow, observeTenant, upsertTenantRow } from './tenant-queries.js';

/** Finalizer that keeps a Tenant until its Apps, Routes and Volumes are gone and its row removed. */
export const TENANT_FINALIZER = 'tend.dev/tenant';
/** Index of the tenant cache: namespace → tenants claiming it. */

/** Builds the Tenant controller on `deps.manager`'s shared informers. */
export function tenantController(deps: PlatformDeps & { readonly listener: PostgresListener }): Controller<Tenant> {
  const { manager, clients, store } = deps;
  const tenants = tenantsByNamespace(deps);
  const apps = manager.informer(clients.app, { indexers: { namespace: byNamespace } });
  const routes = manager.informer(clients.route, { indexers: { namespace: byNamespace } });
  const volumes = manager.informer(clients.volume, { indexers: { namespace: byNamespace } });

  const claimantsOf = (namespaces: readonly string[]) => [
    ...new Map(namespaces.flatMap((ns) => tenants.cache.byIndex(CLAIMS, ns)).map((t) => [t.metadata.name, t])).values(),
  ];
  const tenantsOfNamespace = (obj: Resource) => tenants.cache.byIndex(CLAIMS, obj.metadata.namespace ?? '').map(keyOfObject);
  const inNamespaces = <T extends Resource>(informer: Informer<T>, namespaces: readonly string[]) =>
    namespaces.flatMap((ns) => informer.cache.byIndex('namespace', ns));

  /**
   * The claims on the tenant's namespaces, after recording the ones it makes or gives up now: a
   * claim is read back once committed, so its place in line is the one every replica sees.
   */
  async function claims(ctx: ReconcileContext, tenant: Tenant, recorded: NamespaceClaim[]): Promise<NamespaceClaim[]> {
    const { name, uid } = tenant.metadata;
    const plan = planClaims(tenant, recorded);
    if (plan.claim.length === 0 && plan.release.length === 0) return recorded;
    const fence = String(ctx.fence);
    if (plan.release.length > 0) await store.query(releaseClaims, [name, plan.release, fence]);
    if (plan.claim.length > 0) await store.query(insertClaims, [plan.claim, name, uid, fence]);
    ctx.log.info({ claimed: plan.claim, released: plan.release }, 'namespace claims');
    return store.query<NamespaceClaim>(claimsOfTenant, [tenant.spec?.namespaces ?? [], name]);
  }

  async function observe(ctx: ReconcileContext, tenant: Tenant) {
    const namespaces = tenant.spec?.namespaces ?? [];
    // Row, usage and claims in one round trip (controllers/tenant-queries.ts observeTenant).
    const [seen] = await store.query<{ row: ({ uid: string } & TenantRow) | null; placed: PlacedUsage; claims: (Omit<NamespaceClaim, 'claimedAt'> & { claimedAt: number })[] }>(
      observeTenant, [namespaces, tenant.metadata.name],
    );
    const { row, placed } = seen!;
    const recorded = seen!.claims.map((c) => ({ ...c, claimedAt: new Date(c.claimedAt) }));
    return {
      placed,
      claimants: claimantsOf(namespaces),
      claims: await claims(ctx, tenant, recorded),
      overlapping: overlappingTenants(tenants, tenant),
      apps: inNamespaces(apps, namespaces) as App[],
      routes: inNamespaces(routes, namespaces) as Route[],
      volumes: inNamespaces(volumes, namespaces) as Volume[],
      // A row of an earlier incarnation (same name, other uid) counts as no row.
      row: row && row.uid === tenant.metadata.uid ? row : undefined,
    };
  }

  async function execute(ctx: ReconcileContext, tenant: Tenant, plan: TenantPlan): Promise<void> {
    const fence = String(ctx.fence);
    for (const step of plan.steps) {
      if (step.op === 'upsert-row') {
        const written = await store.query(upsertTenantRow, [
          tenant.metadata.name, tenant.metadata.uid, step.generation, step.namespaces, tenant.metadata.creationTimestamp, fence,
        ]);
        ctx.log.info({ step: step.op, written: written.length > 0, namespaces: step.namespaces }, 'tenant row');
      } else if (step.op === 'delete-row') {
        await store.query(deleteTenantRow, [tenant.metadata.name, tenant.metadata.uid, fence]);
        ctx.log.info({ step: step.op }, 'tenant row removed');
      } else {
        await store.query(releaseAllClaims, [tenant.metadata.name, tenant.metadata.uid, fence]);
        ctx.log.info({ step: step.op }, 'namespace claims released');
      }
    }
    const before = findCondition(tenant.status?.conditions, 'Ready');
    const written = await writeStatus(clients.tenant, tenant, plan.status);
    const after = findCondition(plan.status.conditions, 'Ready');
    // Events for what a person should notice: trouble, and recovery from it. A tenant becoming
    // Ready on creation is the normal case; an event each would double the API writes of a burst.
    const transition = after && (before?.status !== after.status || before?.reason !== after.reason);
    if (written && after && transition && (after.status !== 'True' || before !== undefined)) {
      deps.recorder.record(tenant, after.status === 'True' ? 'Normal' : 'Warning', after.reason, after.message || `Ready is ${after.status}`);
    }
  }

  async function reconcile(ctx: ReconcileContext, tenant: Tenant): Promise<Result> {
    return withFinalizer(clients.tenant, tenant, TENANT_FINALIZER, {
      apply: async (current) => {
        const plan = planTenant(current, await observe(ctx, current), { now: ctx.now() });
        await execute(ctx, current, plan);
        return done();
      },
      cleanup: async (current) => {
        const plan = planTenant(current, await observe(ctx, current), { now: ctx.now() });
        await execute(ctx, current, plan);
        // Blocked: the watches on Apps, Routes and Volumes bring us back when one goes.
        return plan.release ? 'removed' : done();
      },
    });
  }

  // Only spec and metadata matter here: status-only changes (ours included) are skipped.
  return platformController(deps, 'tenant', tenants, reconcile, [
    // A tenant's change can hand a namespace to (or take it from) another tenant.
    watches(tenants, (t) => claimantsOf(t.spec?.namespaces ?? []).map(keyOfObject), specOrMetadataChanged),
    // A tenant's host names can overlap (or stop overlapping) another's: both report it.
    watches(tenants, (t) => overlappingTenants(tenants, t).map(keyOfObject), specOrMetadataChanged),
    watches(apps, tenantsOfNamespace, specOrMetadataChanged as Predicate<App>),
    watches(routes, tenantsOfNamespace, specOrMetadataChanged as Predicate<Route>),
    watches(volumes, tenantsOfNamespace, specOrMetadataChanged as Predicate<Volume>),
    // Instances placed or removed move the tenant's usage (payload: the tenant's name).
    postgresSource({
      name: 'tenant-usage',
      listener: deps.listener,
      channel: 'tend_tenant_usage',
      // Notifications sent while LISTEN was reconnecting are lost: look at every object again.
      resync: async () => tenants.cache.keys(),
      map: (payload) => (payload ? [keyOf(undefined, payload)] : []),
      logger: deps.logger,
    }),
  ]);
}
