/**
 * The App controller: observes an App's instances in PostgreSQL, asks reconcilers/app.ts for the
 * steps, executes them (placement through the scheduler's commit layer, stop, forget), and
 * reports replicas, revision and conditions. Agents' reports wake it through LISTEN tend_instances.
 */
import { bytes, millicores } from '../api/quantity-units.js';
import type { App } from '../api/types/app.js';
import {
  byNamespace, type Controller, done, keyOf, keyOfObject, parseKey, postgresSource, type ReconcileContext,
  requeueAfter, type Key, type Result, watches, withFinalizer, writeStatus, type PostgresListener,
} from '../framework/index.js';
import { appCountVerdict, appStatus, isStateful, planApp, templateOf, type AppInstance, type PlacementOutcome, type TenantBlock } from '../reconcilers/app.js';
import { forgetAppRevisions, revisionAvailable, revisionView } from './app-revisions.js';
import { resolveAppVolumes } from './app-volumes.js';
import { volumeQuotaOf } from '../reconcilers/volume-binding.js';
import { sizeProblem } from '../reconcilers/placement.js';
import type { ClusterConfig } from '../reconcilers/node.js';
import { clearNoTenant, forgetInstance, instancesOfApp, markNoTenant, stopInstance } from './app-queries.js';
import { noTenantVerdict } from '../reconcilers/no-tenant.js';
import { drainInstances } from './orphan-instances.js';
import { placeInstances } from './place-instances.js';
import { appSecrets } from './app-secrets.js';
import { platformController, type PlatformDeps } from './platform-deps.js';
import { MOUNTS, mountedVolumes, ownedNamespaces, owningTenant, tenancyChanged, tenantsByNamespace } from './shared-indexes.js';
import { releaseVolumeClaims } from './volume-claim-queries.js';

/** Keeps an App until its instances are stopped and gone. */
export const APP_FINALIZER = 'tend.dev/app';

/** Builds the App controller. */
export function appController(deps: PlatformDeps & { readonly cluster: ClusterConfig; readonly listener: PostgresListener }): Controller<App> {
  const { manager, clients, store, cluster } = deps;
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
    // Volumes it no longer mounts, once no instance of it does: the next App waiting may have them.
    const released = await store.query<{ volume: string }>(releaseVolumeClaims, [key, mountedVolumes(declared), String(ctx.fence)]);
    if (released.length > 0) ctx.log.info({ volumes: released.map((r) => r.volume) }, 'volume claims released');
    const tenant = await owningTenant(store, tenants, declared.metadata.namespace!);
    const instances = await observe(key);
    if (!tenant) {
      // Counted against no quota: the instances keep serving for the grace period, then stop.
      const verdict = noTenantVerdict(declared, instances, { now: ctx.now(), graceMs: cluster.noTenantGraceMs });
      if (verdict.mark) await store.query(markNoTenant, [key, String(ctx.fence)]);
      const result = await reconcileBlocked(ctx, declared, instances, verdict.block);
      const untilDeadline = verdict.requeueAfterMs;
      if (untilDeadline === undefined) return result;
      return requeueAfter(Math.min(untilDeadline, result.requeueAfterMs ?? untilDeadline));
    }
    // A Tenant claims the namespace (again): the instances are no longer on their way out.
    if (instances.some((i) => i.noTenantSince)) await store.query(clearNoTenant, [key, String(ctx.fence)]);
    if (tenant.spec?.suspended) {
      const tenantBlocked = {
        reason: 'TenantSuspended',
        message: `tenant ${tenant.metadata.name} is suspended (spec.suspended): its instances are stopped and its routes answer 503; set spec.suspended to false to start them again`,
        stop: true,
      } as const;
      return reconcileBlocked(ctx, declared, instances, tenantBlocked);
    }
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
    const overQuota = appCountVerdict(app, tenantApps, tenant.metadata.name, tenant.spec?.quota?.apps);
    const memory = bytes(app.spec!.resources.memory);
    const cpu = millicores(app.spec!.resources.cpu ?? '100m');
    const invalid = sizeProblem(memory, cpu);
    const refused = overQuota ?? (invalid ? { reason: 'InvalidResources', message: invalid } : undefined);
    const deleting = (volume: string) => volumeObjects.cache.get(volume as Key)?.metadata.deletionTimestamp !== undefined;
    const volumes = isStateful(app) && !refused ? await resolveAppVolumes(store, ctx, app, { memory, liveWithinMs, maxInstancesPerNode: cluster.maxInstancesPerNode, allowUnisolatedNodes: cluster.allowUnisolatedNodes, quota: { tenant: tenant.metadata.name, limits: volumeQuotaOf(tenant) }, deleting }) : {};
    const planned = planApp(app, instances, { now: ctx.now(), lostGraceMs: cluster.lostGraceMs, secretVersions, ...(volumes.heldElsewhere ? { volumeHeldElsewhere: volumes.heldElsewhere } : {}) });
    // Over the tenant's app count, sizes no node can take, or its volumes not placeable: place
    // nothing (what runs keeps running) and say why.
    const blockedPlacement = refused ?? (volumes.pinnedNode ? undefined : volumes.unplaced);
    const plan = blockedPlacement ? { ...planned, steps: planned.steps.filter((s) => s.op !== 'place') } : planned;
    let outcome: PlacementOutcome = blockedPlacement ? { placed: 0, unplaced: blockedPlacement } : volumes.unplaced ? { placed: 0, unplaced: volumes.unplaced } : { placed: 0 };
    const fence = String(ctx.fence);
    for (const step of plan.steps) {
      if (step.op === 'forget') await store.query(forgetInstance, [step.id, fence]);
      else if (step.op === 'stop') {
        await store.query(stopInstance, [step.id, fence]);
        ctx.log.info({ instance: step.id, why: step.why }, 'stopping instance');
      } else {
        const spec = app.spec!;
        // Read the values only now, to seal them to the chosen nodes in the placing transaction.
        const fromSecrets = plan.template.secretEnv?.length ? await secrets.envOf(app) : { env: undefined };
        if ('stale' in fromSecrets) return requeueAfter(250); // the cache catches up with the Secret first
        if ('blocked' in fromSecrets) return reconcileBlocked(ctx, app, instances, { ...fromSecrets.blocked, stop: false }, secretVersions);
        const existingByNode: Record<string, number> = {};
        for (const i of instances) if (i.desired === 'running') existingByNode[i.node] = (existingByNode[i.node] ?? 0) + 1;
        const quota = tenant.spec?.quota ?? {};
        const placed = await placeInstances(store, ctx, {
          app: key,
          tenant: tenant.metadata.name,
          revision: step.revision,
          count: step.count,
          memory,
          cpu,
          template: plan.template,
          nodeSelector: spec.placement?.nodeSelector ?? {},
          strategy: spec.placement?.strategy ?? 'binpack',
          existingByNode,
          quota: {
            ...(quota.memory !== undefined ? { memory: bytes(quota.memory) } : {}),
            ...(quota.cpu !== undefined ? { cpu: millicores(quota.cpu) } : {}),
            ...(quota.instances !== undefined ? { instances: quota.instances } : {}),
          },
          liveWithinMs,
          maxInstancesPerNode: cluster.maxInstancesPerNode,
          allowUnisolatedNodes: cluster.allowUnisolatedNodes,
          ...(volumes.pinnedNode ? { pinnedNode: volumes.pinnedNode } : {}),
          ...(fromSecrets.env ? { secretEnv: fromSecrets.env } : {}),
        });
        // A single-writer verdict still explains the replicas that were not asked for.
        outcome = !placed.unplaced && volumes.unplaced ? { ...placed, unplaced: volumes.unplaced } : placed;
      }
    }
    const env = {
      now: ctx.now(), lostGraceMs: cluster.lostGraceMs, secretVersions,
      ...(volumes.blocked ? { volumeBlocked: volumes.blocked } : {}), ...(volumes.overSize ? { volumeOverSize: volumes.overSize } : {}),
      ...(view.rolledBack ? { rolledBack: view.rolledBack } : {}),
    };
    await writeStatus(clients.app, app, appStatus(app, instances, plan, outcome, env));
    // Converged: every replica of this revision ready, nothing else running.
    if (planned.requeueAfterMs === undefined && !blockedPlacement) await revisionAvailable(store, ctx, app, plan.revision, view.history);
    // Lost the race for capacity to other replicas three times: look again soon, not in 2 s.
    if (outcome.contended) return requeueAfter(100 + Math.floor(Math.random() * 300));
    // A full batch placed and more wanted: back of the queue at once, so other keys get their turn.
    if (outcome.more) return requeueAfter(0);
    return plan.requeueAfterMs !== undefined ? requeueAfter(plan.requeueAfterMs) : done();
  }

  /** The tenant (or a missing Secret) holds the App: stop (when asked) and forget instances, place nothing, say why. */
  async function reconcileBlocked(ctx: ReconcileContext, app: App, instances: AppInstance[], tenantBlocked: TenantBlock, secretVersions?: Readonly<Record<string, string>>): Promise<Result> {
    const env = { now: ctx.now(), lostGraceMs: cluster.lostGraceMs, tenantBlocked, ...(secretVersions ? { secretVersions } : {}) };
    const plan = planApp(app, instances, env);
    for (const step of plan.steps) {
      if (step.op === 'forget') await store.query(forgetInstance, [step.id, String(ctx.fence)]);
      else if (step.op === 'stop') {
        await store.query(stopInstance, [step.id, String(ctx.fence)]);
        ctx.log.info({ instance: step.id, why: step.why }, 'stopping instance');
      }
    }
    await writeStatus(clients.app, app, appStatus(app, instances, plan, { placed: 0 }, env));
    return plan.requeueAfterMs !== undefined ? requeueAfter(plan.requeueAfterMs) : done();
  }

  async function cleanup(ctx: ReconcileContext, app: App): Promise<'removed' | Result> {
    const key = `${app.metadata.namespace}/${app.metadata.name}`;
    if (!(await drainInstances(store, ctx.fence, await observe(key)))) return requeueAfter(1_000);
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

