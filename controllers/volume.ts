/**
 * The Volume controller: keeps platform.volumes in line with each Volume's spec (size, pinned node,
 * backups, restore source), reports what the node's agent observed (provisioned, usage, backups)
 * as conditions, and on deletion waits until no App mounts the volume, then has the agent remove
 * the data (backups are kept). Agents' reports wake it through LISTEN tend_volumes.
 */
import { Gauge } from 'prom-client';
import type { Volume } from '../api/types/volume.js';
import {
  byNamespace, type Controller, done, fencedTx, findCondition, keyOf, keyOfObject, parseKey, postgresSource,
  type Queryable, type ReconcileContext, requeueAfter, type Result, specOrMetadataChanged, watches,
  withFinalizer, writeStatus, type PostgresListener,
} from '../framework/index.js';
import { planVolume, restoreToResolve, type VolumeObserved, type VolumePlan, type VolumeRow } from '../reconcilers/volume.js';
import { resolveRestore, type RestoreCandidate, type RestoreSource } from '../reconcilers/volume-restore.js';
import type { ClusterConfig } from '../reconcilers/node.js';
import { platformController, type PlatformDeps } from './platform-deps.js';
import { CLAIMS, MOUNTS, mountedVolumes, owningTenant, tenancyChanged, tenantsByNamespace } from './shared-indexes.js';
import { deleteVolumeRow, lockTenantVolumes, markVolumeDeleted, releaseBackupSet, releasedBackupsOf, selectRestoreSource, selectVolume, tenantBoundVolumes, upsertVolume } from './volume-queries.js';
import { volumeQuotaOf, volumeQuotaVerdict } from '../reconcilers/volume-binding.js';
import { bytes } from '../api/quantity-units.js';
import type { Tenant } from '../api/types/tenant.js';

/** Keeps a Volume until no App mounts it and its data is removed from its node. */
export const VOLUME_FINALIZER = 'tend.dev/volume';

/** Why binding `volume` now would exceed its tenant's volume or storage quota, if it would. */
async function quotaVerdict(db: Queryable, tenant: Tenant, volume: Volume): Promise<string | undefined> {
  const limits = volumeQuotaOf(tenant);
  if (limits.volumes === undefined && limits.storage === undefined) return undefined;
  const [held] = await db.query<{ volumes: number; storage: number }>(tenantBoundVolumes, [tenant.metadata.name]);
  return volumeQuotaVerdict(tenant.metadata.name, limits, held ?? { volumes: 0, storage: 0 }, { volumes: 1, storage: bytes(volume.spec!.size) });
}

/** Builds the Volume controller. */
export function volumeController(deps: PlatformDeps & { readonly listener: PostgresListener; readonly cluster: Pick<ClusterConfig, 'deletedBackupRetentionMs'> }): Controller<Volume> {
  const { manager, clients, store, cluster } = deps;
  const volumes = manager.informer(clients.volume, { indexers: { namespace: byNamespace } });
  const tenants = tenantsByNamespace(deps);
  const apps = manager.informer(clients.app, {
    indexers: { [MOUNTS]: mountedVolumes },
  });
  const overdue = new Gauge({
    name: 'tend_volume_backup_overdue',
    help: 'Whether the volume\'s last backup is older than twice its schedule (BackedUp=False): 1 or 0.',
    labelNames: ['namespace', 'volume'],
    registers: [manager.registry],
  });

  async function observe(volume: Volume): Promise<VolumeObserved> {
    const key = keyOfObject(volume);
    const [row] = await store.query<VolumeRow & { nodeState: string | null; nodeLostSince: Date | null }>(selectVolume, [key]);
    const tenant = await owningTenant(store, tenants, volume.metadata.namespace!);
    const mountedBy = apps.cache.byIndex(MOUNTS, key).map((a) => a.metadata.name).sort();
    const restore = tenant && restoreToResolve(volume, row) ? { restoreSource: await restoreSource(volume, tenant.metadata.name) } : {};
    const quotaExceeded = tenant && !row?.node ? await quotaVerdict(store, tenant, volume) : undefined;
    const quota = quotaExceeded ? { quotaExceeded } : {};
    if (!row) return { row: undefined, tenant: tenant?.metadata.name, mountedBy, ...restore, ...quota };
    const { nodeState, nodeLostSince, ...volumeRow } = row;
    return {
      row: volumeRow,
      tenant: tenant?.metadata.name,
      mountedBy,
      ...restore,
      ...quota,
      ...(nodeState !== null ? { node: { state: nodeState, lostSince: nodeLostSince } } : {}),
    };
  }

  /** Where spec.restoreFrom's backups are: the live source volume, else its kept backups, of this tenant only. */
  async function restoreSource(volume: Volume, tenant: string): Promise<RestoreSource> {
    const source = `${volume.metadata.namespace}/${volume.spec!.restoreFrom!.volume}`;
    // A Volume made again under the name it restores from: the source is the one deleted before.
    const [live] = source === keyOfObject(volume) ? [] : await store.query<RestoreCandidate>(selectRestoreSource, [source]);
    return resolveRestore(source, tenant, live, await store.query<RestoreCandidate>(releasedBackupsOf, [source]));
  }

  async function release(ctx: ReconcileContext, key: string, plan: VolumePlan): Promise<void> {
    const r = plan.releaseBackups;
    if (!r) return;
    await store.query(releaseBackupSet, [r.storeKey, r.tenant, r.uid, key, r.node, String(ctx.fence), cluster.deletedBackupRetentionMs]);
    ctx.log.info({ storeKey: r.storeKey, retentionMs: cluster.deletedBackupRetentionMs }, 'backups released: kept for the retention, then pruned');
  }

  /**
   * Writes the row. Binding a pinned volume takes the tenant's volume lock and re-checks its quota
   * first, like binding through an App: false when the quota no longer lets it in (plan again).
   */
  async function upsert(ctx: ReconcileContext, key: string, plan: VolumePlan, volume: Volume, wasBound: boolean): Promise<boolean> {
    await release(ctx, key, plan);
    const r = plan.upsert;
    if (!r) return true;
    const tenant = tenants.cache.get(keyOf(undefined, r.tenant));
    const limits = tenant ? volumeQuotaOf(tenant) : {};
    if (r.pinnedNode && !wasBound && (limits.volumes !== undefined || limits.storage !== undefined)) {
      const admitted = await fencedTx(store, ctx.fence, async (tx) => {
        await tx.query(lockTenantVolumes, [r.tenant]);
        if (await quotaVerdict(tx, tenant!, volume)) return false;
        await write(tx, ctx, key, r);
        return true;
      });
      if (!admitted) ctx.log.info({ tenant: r.tenant }, 'pinned volume not bound: the tenant\'s volume quota filled meanwhile');
      return admitted;
    }
    await write(store, ctx, key, r);
    return true;
  }

  async function write(db: Queryable, ctx: ReconcileContext, key: string, r: NonNullable<VolumePlan['upsert']>): Promise<void> {
    await db.query(upsertVolume, [key, r.uid, r.tenant, r.size, r.restoreFrom ? JSON.stringify(r.restoreFrom) : null, r.backupSchedule, r.backupRetain, r.backupRequest, String(ctx.fence), r.pinnedNode, r.backupKey]);
    ctx.log.info({ size: r.size, pinnedNode: r.pinnedNode, backupRequest: r.backupRequest }, 'volume row written');
  }

  function report(volume: Volume, plan: VolumePlan): void {
    const backedUp = findCondition(plan.status.conditions, 'BackedUp');
    const labels = { namespace: volume.metadata.namespace!, volume: volume.metadata.name };
    if (backedUp) overdue.set(labels, backedUp.status === 'False' ? 1 : 0);
    else overdue.remove(labels);
  }

  async function reconcile(ctx: ReconcileContext, volume: Volume): Promise<Result> {
    const key = keyOfObject(volume);
    return withFinalizer(clients.volume, volume, VOLUME_FINALIZER, {
      apply: async (current) => {
        const observed = await observe(current);
        const plan = planVolume(current, observed, { now: ctx.now() });
        if (!(await upsert(ctx, key, plan, current, Boolean(observed.row?.node)))) return requeueAfter(100);
        await writeStatus(clients.volume, current, plan.status);
        report(current, plan);
        // A row written just now is read back on the notification it raises.
        return plan.requeueAfterMs !== undefined ? requeueAfter(plan.requeueAfterMs) : done();
      },
      cleanup: async (current) => {
        const plan = planVolume(current, await observe(current), { now: ctx.now() });
        const fence = String(ctx.fence);
        if (plan.deletion === 'mark-deleted') await store.query(markVolumeDeleted, [key, fence]);
        if (plan.deletion === 'remove-row') {
          await release(ctx, key, plan);
          await store.query(deleteVolumeRow, [key, fence]);
        }
        if (plan.deletion === 'done' || plan.deletion === 'remove-row') {
          overdue.remove({ namespace: current.metadata.namespace!, volume: current.metadata.name });
          return 'removed';
        }
        await writeStatus(clients.volume, current, plan.status);
        // blocked: an App's change brings us back; wait/mark: the agent's report does.
        return done();
      },
    });
  }

  return platformController(deps, 'volume', volumes, reconcile, [
    watches(tenants, (t) => (t.spec?.namespaces ?? []).flatMap((ns) => volumes.cache.byIndex('namespace', ns)).map(keyOfObject), tenancyChanged),
    // A Volume gone (its row went first) frees quota for the tenant's volumes left unbound by it.
    watches(volumes, (v) => tenants.cache.byIndex(CLAIMS, v.metadata.namespace ?? '')
      .filter((t) => t.spec?.quota?.volumes !== undefined || t.spec?.quota?.storage !== undefined)
      .flatMap((t) => (t.spec?.namespaces ?? []).flatMap((ns) => volumes.cache.byIndex('namespace', ns)))
      .filter((w) => findCondition(w.status?.conditions, 'Bound')?.reason === 'QuotaExceeded')
      .map(keyOfObject), (c) => c.type === 'deleted'),
    // An App starting or stopping to mount a volume (deletion may be waiting for it).
    watches(apps, mountedVolumes, specOrMetadataChanged),
    postgresSource({
      name: 'volume-rows',
      listener: deps.listener,
      channel: 'tend_volumes',
      // Notifications sent while LISTEN was reconnecting are lost: look at every object again.
      resync: async () => volumes.cache.keys(),
      map: (payload) => {
        const { namespace, name } = parseKey((payload.split(' ')[0] ?? '') as never);
        return namespace ? [keyOf(namespace, name)] : [];
      },
      logger: deps.logger,
    }),
  ]);
}
