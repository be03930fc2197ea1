/** The SQL of the Volume controller (platform.volumes, migrations/000008_platform_volumes.sql). */
import type { NamedQuery } from '../framework/index.js';

/** The row, as reconcilers/volume.ts reads it, with its node's liveness. */
export const selectVolume: NamedQuery = {
  name: 'platform.volume_select',
  text: `select v.uid, v.tenant, v.size::float8 as size, v.node, v.bound_at as "boundAt", v.desired, v.restore_from as "restoreFrom",
                v.backup_schedule as "backupSchedule", v.backup_retain as "backupRetain", v.backup_request as "backupRequest",
                v.phase, v.message, v.usage::float8 as usage, v.backups, v.last_backup_at as "lastBackupAt",
                v.backup_key as "backupKey", n.state as "nodeState", n.lost_since as "nodeLostSince"
         from platform.volumes v left join platform.nodes n on n.name = v.node
         where v.key = $1`,
};

/**
 * $1 key … $8 backup request, $9 fence, $10 spec.node, $11 backup key. A pinned volume is bound at
 * once when its node is known; a bound volume keeps its node. Writes only when something differs.
 */
export const upsertVolume: NamedQuery = {
  name: 'platform.volume_upsert',
  text: `insert into platform.volumes as v (key, uid, tenant, size, restore_from, backup_schedule, backup_retain, backup_request, node, bound_at, backup_key)
         select $1, $2, $3, $4, $5::jsonb, $6, $7, $8, n.name, case when n.name is not null then now() end, $11
         from (select 1) one left join platform.nodes n on n.name = $10
         where tend.fenced($9::bigint)
         on conflict (key) do update
           set uid = excluded.uid, tenant = excluded.tenant, size = excluded.size, restore_from = excluded.restore_from,
               backup_schedule = excluded.backup_schedule, backup_retain = excluded.backup_retain,
               backup_request = excluded.backup_request, backup_key = excluded.backup_key,
               node = coalesce(v.node, excluded.node), bound_at = coalesce(v.bound_at, excluded.bound_at)
           where (v.uid, v.tenant, v.size, v.restore_from, v.backup_schedule, v.backup_retain, v.backup_request, v.node, v.backup_key)
                 is distinct from (excluded.uid, excluded.tenant, excluded.size, excluded.restore_from, excluded.backup_schedule,
                                   excluded.backup_retain, excluded.backup_request, coalesce(v.node, excluded.node), excluded.backup_key)`,
};

/** The tenant and backup key of live volume $1: a restoreFrom source. */
export const selectRestoreSource: NamedQuery = {
  name: 'platform.volume_restore_source',
  text: `select tenant, backup_key as "storeKey" from platform.volumes where key = $1 and backup_key is not null`,
};

/** The kept backups of deleted volumes named $1 (namespace/name), newest first. */
export const releasedBackupsOf: NamedQuery = {
  name: 'platform.backup_sets_of_volume',
  text: `select store_key as "storeKey", tenant from platform.backup_sets
         where volume_key = $1 and prune_after > now() order by released_at desc`,
};

/**
 * Records backups under store key $1 (tenant $2, volume uid $3, namespace/name $4, taken on node
 * $5) as released: kept for $7 ms, then pruned by that node's agent. Once only; fenced ($6).
 */
export const releaseBackupSet: NamedQuery = {
  name: 'platform.backup_set_release',
  text: `insert into platform.backup_sets (store_key, tenant, volume_uid, volume_key, node, released_at, prune_after)
         select $1, $2, $3, $4, $5, now(), now() + make_interval(secs => $7::float8 / 1000)
         where tend.fenced($6::bigint)
         on conflict (store_key) do nothing`,
};

/**
 * Asks the node's agent to remove the data ($1 key, $2 fence) — not while an App still holds the
 * volume (platform.volume_claims): its instance may still be writing, whatever the caches say.
 * Letting go of the claim notifies tend_volumes, and the Volume controller asks again.
 */
export const markVolumeDeleted: NamedQuery = {
  name: 'platform.volume_mark_deleted',
  text: `update platform.volumes set desired = 'deleted' where key = $1 and desired <> 'deleted'
           and not exists (select 1 from platform.volume_claims c where c.volume = $1)
           and tend.fenced($2::bigint)`,
};

/** Forgets the row once its data is gone (or it never had any): $1 key, $2 fence. */
export const deleteVolumeRow: NamedQuery = {
  name: 'platform.volume_delete',
  text: `delete from platform.volumes where key = $1
           and tend.fenced($2::bigint)`,
};

/**
 * Serialises the volume bindings of one tenant ($1) across replicas, so two cannot both admit a
 * volume past its quota. Transaction-scoped; taken before any node row lock (the one order).
 */
export const lockTenantVolumes: NamedQuery = {
  name: 'platform.lock_tenant_volumes',
  text: `select pg_advisory_xact_lock(hashtextextended('tend.volume-quota ' || $1, 0))`,
};

/** What tenant $1's bound volumes hold (after lockTenantVolumes, in a new statement: a fresh snapshot). */
export const tenantBoundVolumes: NamedQuery = {
  name: 'platform.tenant_bound_volumes',
  text: `select count(*)::int as volumes, coalesce(sum(size), 0)::float8 as storage
         from platform.volumes where tenant = $1 and node is not null`,
};
