/**
 * The App controller: observes an App's tenant, volumes and instances in PostgreSQL, asks
 * reconcilers/ for the plan (app.ts the steps, app-tenancy.ts what its tenant allows,
 * app-placement.ts what placement may do and when to look again), executes it (placement through
 * the scheduler's commit layer, one attempt; stop; forget), and reports replicas, revision and
 * conditions. Agents' reports wake it through LISTEN tend_instances.
 */
import type { App } from '../api/types/app.js';
import {
  byNamespace, type Controller, done, keyOf, keyOfObject, parseKey, postgresSource, type ReconcileContext,
  requeueAfter, type Key, type Result, watches, withFinalizer, writeStatus, type PostgresListener,
} from '../framework/index.js';
import { appStatus, isStateful, planApp, templateOf, type AppInstance, type TenantBlock } from '../reconcilers/app.js';
import { appRequeueAfter, placementAsk, placementRefusal, placementVerdict, planAppPlacement } from '../reconcilers/app-placement.js';
import { appTenancyVerdict, heldRequeueAfter, type TenancyVerdict } from '../reconcilers/app-tenancy.js';
import { forgetAppRevisions, revisionAvailable, revisionView } from './app-revisions.js';
import { resolveAppVolumes } from './app-volumes.js';
import { volumeQuotaOf } from '../reconcilers/volume-binding.js';
import type { ClusterConfig } from '../reconcilers/node.js';
import { clearNoTenant, instancesOfApp, markNoTenant } from './app-queries.js';
import { drainInstances, stopAndForget } from './instance-steps.js';
import { placeInstances } from './place-instances.js';
import { appSecrets } from './app-secrets.js';
import { platformController, type PlatformDeps } from './platform-deps.js';
import { MOUNTS, mountedVolumes, ownedNamespaces, owningTenant, tenancyChanged, tenantsByNamespace } from './shared-indexes.js';
import { releaseVolumeClaims } from './volume-claim-queries.js';

/** Keeps an App until its instances are stopped and gone. */
export const APP_FINALIZER = 'tend.dev/app';

/** What the App controller is built from besides the platform's dependencies. */
export interface AppControllerDeps extends PlatformDeps {
  readonly cluster: ClusterConfig;
  readonly listener: PostgresListener;
  /** Numbers in [0, 1) for the jitter of contention's requeue. @default Math.random */
  readonly random?: () => number;
}

/** Builds the App controller. */
export function appController(deps: AppControllerDeps): Controller<App> {
  const { manager, clients, store, cluster } = deps;
  const random = deps.random ?? Math.random;
  const apps = manager.informer(clients.app, {
    indexers: { namespace: byNamespace, [MOUNTS]: mountedVolumes },
  });
  const tenants = tenantsByNamespace(deps);
  // A Volume being deleted is mounted by no new instance, also while its deletion waits.
  const volumeObjects = manager.informer(clients.volume);
  const secrets = appSecrets(deps, apps);
  const liveWithinMs = cluster.heartbeatMs * cluster.missedHeartbeats;

  async function observe(key: string): Promise<AppInstance[]> {
    const rows = await store.query<AppInstance & { nodeLostSince: Date | null; noTenantSince: Date | null }>(instancesOfApp, [key]);
    return rows.map(({ nodeLostSince, noTenantSince, ...i }) => ({ ...i, ...(nodeLostSince ? { nodeLostSince } : {}), ...(noTenantSince ? { noTenantSince } : {}) }));
  }

  async function reconcileLive(ctx: ReconcileContext, declared: App): Promise<Result> {
    const key = `${declared.metadata.namespace}/${declared.metadata.name}`;
    const fence = String(ctx.fence);
    // Volumes it no longer mounts, once no instance of it does: the next App waiting may have them.
    const released = await store.query<{ volume: string }>(releaseVolumeClaims, [key, mountedVolumes(declared), fence]);
    if (released.length > 0) ctx.log.info({ volumes: released.map((r) => r.volume) }, 'volume claims released');
    const tenant = await owningTenant(store, tenants, declared.metadata.namespace!);
    const instances = await observe(key);
    const tenancy = appTenancyVerdict(declared, tenant, instances, { now: ctx.now(), graceMs: cluster.noTenantGraceMs });
    if (tenancy.mark) await store.query(markNoTenant, [key, fence]);
    if (tenancy.clear) await store.query(clearNoTenant, [key, fence]);
    if (tenancy.block || !tenant) return reconcileBlocked(ctx, declared, instances, tenancy.block!, undefined, tenancy);
    // A Secret or key missing: nothing of this revision starts (never with part of its env).
    const resolvedDeclared = secrets.resolve(declared);
    if (resolvedDeclared.blocked) return reconcileBlocked(ctx, declared, instances, { ...resolvedDeclared.blocked, stop: false }, resolvedDeclared.versions);
    // The history records the spec's revision; an automatic rollback plans the revision it returned to instead.
    const view = await revisionView(store, deps.recorder, ctx, declared, templateOf(declared, resolvedDeclared.versions).revision, instances);
    const app = view.app;
    const resolved = app === declared ? resolvedDeclared : secrets.resolve(app);
    if (resolved.blocked) return reconcileBlocked(ctx, app, instances, { ...resolved.blocked, stop: false }, resolved.versions);
    const secretVersions = resolved.versions;
    const tenantApps = tenant.spec?.quota?.apps === undefined ? [] : (await ownedNamespaces(store, tenants, tenant)).flatMap((ns) => apps.cache.byIndex('namespace', ns));
    const refusal = placementRefusal(app, tenant, tenantApps);
    const deleting = (volume: string) => volumeObjects.cache.get(volume as Key)?.metadata.deletionTimestamp !== undefined;
    const volumes = isStateful(app) && !refusal.refused ? await resolveAppVolumes(store, ctx, app, { memory: refusal.memory, liveWithinMs, maxInstancesPerNode: cluster.maxInstancesPerNode, allowUnisolatedNodes: cluster.allowUnisolatedNodes, quota: { tenant: tenant.metadata.name, limits: volumeQuotaOf(tenant) }, deleting }) : {};
    const planned = planApp(app, instances, { now: ctx.now(), lostGraceMs: cluster.lostGraceMs, secretVersions, ...(volumes.heldElsewhere ? { volumeHeldElsewhere: volumes.heldElsewhere } : {}) });
    const placement = planAppPlacement(planned, refusal, volumes);
    const plan = placement.plan;
    let outcome = placement.outcome;
    for (const step of plan.steps) {
      if (step.op !== 'place') {
        await stopAndForget(store, ctx.fence, [step], ctx.log);
        continue;
      }
      // Read the values only now, to seal them to the chosen nodes in the placing transaction.
      const fromSecrets = plan.template.secretEnv?.length ? await secrets.envOf(app) : { env: undefined };
      if ('stale' in fromSecrets) return requeueAfter(250); // the cache catches up with the Secret first
      if ('blocked' in fromSecrets) return reconcileBlocked(ctx, app, instances, { ...fromSecrets.blocked, stop: false }, secretVersions);
      const placed = await placeInstances(store, ctx, {
        ...placementAsk(app, tenant, instances, step.count, refusal, volumes),
        app: key,
        tenant: tenant.metadata.name,
        revision: step.revision,
        template: plan.template,
        liveWithinMs,
        maxInstancesPerNode: cluster.maxInstancesPerNode,
        allowUnisolatedNodes: cluster.allowUnisolatedNodes,
        ...(fromSecrets.env ? { secretEnv: fromSecrets.env } : {}),
      });
      outcome = placementVerdict(placed, volumes);
    }
    const env = {
      now: ctx.now(), lostGraceMs: cluster.lostGraceMs, secretVersions,
      ...(volumes.blocked ? { volumeBlocked: volumes.blocked } : {}), ...(volumes.overSize ? { volumeOverSize: volumes.overSize } : {}),
      ...(view.rolledBack ? { rolledBack: view.rolledBack } : {}),
    };
    await writeStatus(clients.app, app, appStatus(app, instances, plan, outcome, env));
    // Converged: every replica of this revision ready, nothing else running.
    if (placement.converged) await revisionAvailable(store, ctx, app, plan.revision, view.history);
    const after = appRequeueAfter(plan, outcome, random);
    return after !== undefined ? requeueAfter(after) : done();
  }

  /**
   * The tenant (or a missing Secret) holds the App: stop (when asked) and forget instances, place
   * nothing, say why; with a no-tenant grace running, look again when it ends at the latest.
   */
  async function reconcileBlocked(ctx: ReconcileContext, app: App, instances: AppInstance[], tenantBlocked: TenantBlock, secretVersions?: Readonly<Record<string, string>>, tenancy?: TenancyVerdict): Promise<Result> {
    const env = { now: ctx.now(), lostGraceMs: cluster.lostGraceMs, tenantBlocked, ...(secretVersions ? { secretVersions } : {}) };
    const plan = planApp(app, instances, env);
    await stopAndForget(store, ctx.fence, plan.steps, ctx.log);
    await writeStatus(clients.app, app, appStatus(app, instances, plan, { placed: 0 }, env));
    const after = tenancy ? heldRequeueAfter(plan.requeueAfterMs, tenancy) : plan.requeueAfterMs;
    return after !== undefined ? requeueAfter(after) : done();
  }

  async function cleanup(ctx: ReconcileContext, app: App): Promise<'removed' | Result> {
    const key = `${app.metadata.namespace}/${app.metadata.name}`;
    if (!(await drainInstances(store, ctx.fence, await observe(key), 'its App is being deleted'))) return requeueAfter(1_000);
    await store.query(releaseVolumeClaims, [key, [], String(ctx.fence)]);
    await forgetAppRevisions(store, ctx, app);
    return 'removed';
  }

  const reconcile = (ctx: ReconcileContext, app: App) =>
    withFinalizer(clients.app, app, APP_FINALIZER, { apply: (a) => reconcileLive(ctx, a), cleanup: (a) => cleanup(ctx, a) });

  return platformController(deps, 'app', apps, reconcile, [
    // A Tenant appearing, changing its namespaces or quota concerns the apps in its namespaces.
    watches(tenants, (t) => (t.spec?.namespaces ?? []).flatMap((ns) => apps.cache.byIndex('namespace', ns)).map(keyOfObject), tenancyChanged),
    // A Secret appearing, changing or going concerns the Apps whose env references it.
    secrets.source,
    postgresSource({
      name: 'app-instances',
      listener: deps.listener,
      channel: 'tend_instances',
      // Notifications sent while LISTEN was reconnecting are lost: look at every object again.
      resync: async () => apps.cache.keys(),
      map: (payload) => {
        const { namespace, name } = parseKey((payload.split(' ')[0] ?? '') as never);
        return namespace ? [keyOf(namespace, name)] : [];
      },
      logger: deps.logger,
    }),
    // A Volume's deletion starting (it may wait for Apps) concerns the Apps that mount it.
    watches(volumeObjects, (v) => apps.cache.byIndex(MOUNTS, keyOfObject(v)).map(keyOfObject), (c) => c.type === 'updated' && c.old?.metadata.deletionTimestamp !== c.object.metadata.deletionTimestamp),
    // A volume appearing, bound or removed, or its claim let go, concerns the apps that mount it.
    postgresSource({
      name: 'app-volumes',
      listener: deps.listener,
      channel: 'tend_volumes',
      // Notifications sent while LISTEN was reconnecting are lost: look at every object again.
      resync: async () => apps.cache.keys(),
      map: (payload) => apps.cache.byIndex(MOUNTS, payload.split(' ')[0] ?? '').map(keyOfObject),
      logger: deps.logger,
    }),
  ]);
}

