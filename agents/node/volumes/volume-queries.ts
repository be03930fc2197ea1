/**
 * The node agent's SQL on platform.volumes (migrations/000008_platform_volumes.sql). The agent
 * reads the volumes bound to its node and writes only the observed columns, and every write is
 * guarded twice: `node = $2`, so an agent never writes a volume bound elsewhere, and a
 * `… is distinct from …` clause, so a steady state writes nothing (no new row version, no
 * NOTIFY to wake the controllers).
 */
import type { NamedQuery } from '../../../framework/index.js';

/** NOTIFY channel of platform.volumes changes; payload "namespace/name node" (node '' when unbound). */
export const VOLUMES_CHANNEL = 'tend_volumes';

/** True when a tend_volumes payload concerns a volume bound to `node`. */
export function volumeNotificationIsFor(payload: string, node: string): boolean {
  return payload.slice(payload.lastIndexOf(' ') + 1) === node;
}

/** One row of platform.volumes as `volumesOfNode` returns it. */
export interface VolumeRow {
  readonly key: string;
  readonly desired: 'present' | 'deleted';
  readonly boundAt: Date | null;
  /** {"volume": "namespace/name", "backup": id | null, "source": the backup key to read (null: none; absent in older rows)}. */
  readonly restoreFrom: { readonly volume: string; readonly backup?: string | null; readonly source?: string | null } | null;
  /** Where this volume's backups go in the store: `tenant/uid` (null in rows older than migration 000019: use the key). */
  readonly backupKey: string | null;
  readonly backupSchedule: string | null;
  readonly backupRetain: number;
  readonly backupRequest: string | null;
  readonly phase: VolumePhase | null;
  readonly message: string | null;
  readonly usage: number | null;
  readonly backups: readonly VolumeBackupRecord[];
  readonly lastBackupAt: Date | null;
  readonly backupRequestDone: string | null;
}

export type VolumePhase = 'provisioning' | 'restoring' | 'ready' | 'failed' | 'deleted';

/** One element of platform.volumes.backups, oldest first. */
export interface VolumeBackupRecord {
  readonly id: string;
  /** RFC 3339. */
  readonly time: string;
  readonly sizeBytes: number;
  /** "sha256:<64 hex>", as status.backups[].checksum wants it. */
  readonly checksum: string;
}

/** The volumes bound to this node ($1), desired and observed columns (served by index volumes_node). */
export const volumesOfNode: NamedQuery = {
  name: 'agent.volumes_of_node',
  text: `select key, desired, bound_at as "boundAt", restore_from as "restoreFrom",
                backup_schedule as "backupSchedule", backup_retain as "backupRetain",
                backup_request as "backupRequest", phase, message, usage::float8 as usage, backups,
                last_backup_at as "lastBackupAt", backup_request_done as "backupRequestDone", backup_key as "backupKey"
         from platform.volumes where node = $1`,
};

/** Sets phase ($3) and message ($4) of volume $1 on node $2, if either differs. */
export const setVolumePhase: NamedQuery = {
  name: 'agent.set_volume_phase',
  text: `update platform.volumes set phase = $3, message = $4, observed_at = now()
         where key = $1 and node = $2 and (phase is distinct from $3 or message is distinct from $4)`,
};

/** Sets only the message ($3) of volume $1 on node $2, if it differs (backup failures, bad schedules). */
export const setVolumeMessage: NamedQuery = {
  name: 'agent.set_volume_message',
  text: `update platform.volumes set message = $3, observed_at = now()
         where key = $1 and node = $2 and message is distinct from $3`,
};

/** Sets the usage in bytes ($3) of volume $1 on node $2, if it changed. */
export const reportVolumeUsage: NamedQuery = {
  name: 'agent.report_volume_usage',
  text: `update platform.volumes set usage = $3, observed_at = now()
         where key = $1 and node = $2 and usage is distinct from $3`,
};

/**
 * Records the kept backups ($3, jsonb, oldest first) and the latest backup time ($4) of volume
 * $1 on node $2; after a backup also the request it served ($5, null: leave as is) and clears the
 * message ($6 true). Writes only what changed.
 */
export const recordVolumeBackups: NamedQuery = {
  name: 'agent.record_volume_backups',
  text: `update platform.volumes
         set backups = $3::jsonb, last_backup_at = $4::timestamptz,
             backup_request_done = coalesce($5, backup_request_done),
             message = case when $6::boolean then null else message end, observed_at = now()
         where key = $1 and node = $2
           and (backups is distinct from $3::jsonb or last_backup_at is distinct from $4::timestamptz
                or backup_request_done is distinct from coalesce($5, backup_request_done)
                or ($6::boolean and message is not null))`,
};

/** Released backups this node ($1) took whose retention is over (platform.backup_sets). */
export const prunableBackupSets: NamedQuery = {
  name: 'agent.prunable_backup_sets',
  text: `select store_key as "storeKey" from platform.backup_sets where node = $1 and prune_after < now() order by prune_after limit 100`,
};

/** Forgets released set $1 of node $2 once its backups are gone from the store. */
export const forgetBackupSet: NamedQuery = {
  name: 'agent.forget_backup_set',
  text: `delete from platform.backup_sets where store_key = $1 and node = $2`,
};
