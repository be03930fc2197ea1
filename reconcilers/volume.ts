/**
 * The Volume planner: a Volume's spec × its row in platform.volumes × its node → the row to write,
 * the status to report, and (during deletion) what must happen before the data may go. Pure.
 *
 * A volume lives on one node. It is bound when the first App that mounts it is placed (or up
 * front by spec.node) and never moves by itself. The node's agent provisions the directory,
 * restores it from a backup when asked, reports usage and takes the backups; this planner only
 * turns what the agent reports into conditions a person can act on.
 */
import { binaryQuantity, bytes } from '../api/quantity-units.js';
import { type Condition, type ConditionUpdate, readySummary, removeCondition, rfc3339Seconds, setCondition } from '../framework/index.js';
import type { Volume, VolumeStatus } from '../api/types/volume.js';
import { BACKUP_REQUEST_ANNOTATION } from '../api/types/volume.js';
import { backupStale, nextBackupAt } from './backup-schedule.js';
import { backupKeyOf, type RestoreSource } from './volume-restore.js';

/** The controller-owned columns of platform.volumes. */
export interface VolumeDesiredRow {
  readonly uid: string;
  readonly tenant: string;
  readonly size: number;
  /** spec.node; a bound volume keeps its node whatever this says (the CRD makes it immutable). */
  readonly pinnedNode: string | null;
  /** `source`: the backup key to restore from, resolved by the controller (reconcilers/volume-restore.ts); absent in rows written before. */
  readonly restoreFrom: { readonly volume: string; readonly backup: string | null; readonly source?: string | null } | null;
  readonly backupSchedule: string | null;
  readonly backupRetain: number;
  readonly backupRequest: string | null;
  /** Where the backup store keeps this volume's backups: `tenant/uid` (older rows: namespace/name). */
  readonly backupKey: string;
}

/** One row of platform.volumes as the controller reads it. */
export interface VolumeRow extends Omit<VolumeDesiredRow, 'pinnedNode' | 'backupKey'> {
  readonly backupKey: string | null;
  readonly node: string | null;
  readonly boundAt: Date | null;
  readonly desired: 'present' | 'deleted';
  readonly phase: 'provisioning' | 'restoring' | 'ready' | 'failed' | 'deleted' | null;
  readonly message: string | null;
  readonly usage: number | null;
  readonly backups: readonly { readonly id: string; readonly time: string; readonly sizeBytes: number; readonly checksum: string }[];
  readonly lastBackupAt: Date | null;
}

/** What else the planner needs to know. */
export interface VolumeObserved {
  readonly row: VolumeRow | undefined;
  readonly tenant: string | undefined;
  /** The bound node's state, when bound. */
  readonly node?: { readonly state: string; readonly lostSince: Date | null } | undefined;
  /** Apps in the volume's namespace whose spec mounts it. */
  readonly mountedBy: readonly string[];
  /** Where spec.restoreFrom's backups are, when `restoreToResolve` says the controller must look. */
  readonly restoreSource?: RestoreSource;
  /** Unbound, and binding it now would exceed the tenant's volume or storage quota: why (volume-binding.ts). */
  readonly quotaExceeded?: string;
}

/** Backups that stop being this volume's (deleted, or another tenant's now): kept until the retention, then pruned. */
export interface ReleasedBackups {
  readonly storeKey: string;
  readonly tenant: string;
  readonly uid: string;
  readonly node: string;
}

export interface VolumePlan {
  /** The desired columns to upsert, when they differ from the row. */
  readonly upsert: VolumeDesiredRow | undefined;
  readonly status: VolumeStatus;
  /** During deletion: what to do now. */
  readonly deletion?: 'blocked' | 'mark-deleted' | 'wait' | 'remove-row' | 'done';
  /** Look again then (a backup becoming overdue), even if nothing changes. */
  readonly requeueAfterMs: number | undefined;
  /** Record these backups as released (platform.backup_sets) first. */
  readonly releaseBackups?: ReleasedBackups;
}

/** Whether the controller must resolve spec.restoreFrom: the row does not carry it yet (restoreFrom applies at creation only). */
export function restoreToResolve(volume: Volume, row: VolumeRow | undefined): boolean {
  const from = volume.spec?.restoreFrom;
  if (!from) return false;
  return !(row?.restoreFrom && row.restoreFrom.volume === `${volume.metadata.namespace}/${from.volume}` && row.restoreFrom.backup === (from.backup ?? null));
}

/** The conditions Ready summarises: is the data usable. BackedUp is reported beside them, not in them. */
export const VOLUME_CONDITIONS = ['Bound', 'Provisioned', 'WithinSize'] as const;

/** Plans one reconcile of `volume`. */
export function planVolume(volume: Volume, observed: VolumeObserved, env: { readonly now: Date }): VolumePlan {
  const spec = volume.spec!;
  const generation = volume.metadata.generation ?? 0;
  const key = `${volume.metadata.namespace}/${volume.metadata.name}`;
  const row = observed.row;
  const size = bytes(spec.size);
  const uid = volume.metadata.uid ?? '';
  const refused = observed.restoreSource && 'refused' in observed.restoreSource ? observed.restoreSource.refused : undefined;
  const restoreFrom = !spec.restoreFrom
    ? null
    : restoreToResolve(volume, row)
      ? { volume: `${volume.metadata.namespace}/${spec.restoreFrom.volume}`, backup: spec.restoreFrom.backup ?? null, source: observed.restoreSource && 'storeKey' in observed.restoreSource ? observed.restoreSource.storeKey : null }
      : row!.restoreFrom;
  // Backups follow the tenant and the uid: a new owner or a new incarnation starts a new key.
  const backupKey = row?.backupKey && row.uid === uid && row.tenant === observed.tenant ? row.backupKey : backupKeyOf(observed.tenant ?? '', uid);
  const desired: VolumeDesiredRow | undefined = observed.tenant && !refused
    ? {
        uid,
        tenant: observed.tenant,
        size,
        // Over the quota, a pinned volume is not bound (so not provisioned) until it fits.
        pinnedNode: observed.quotaExceeded && !row?.node ? null : (spec.node ?? null),
        restoreFrom,
        backupKey,
        backupSchedule: spec.backup?.schedule ?? null,
        backupRetain: spec.backup?.retain ?? 7,
        backupRequest: volume.metadata.annotations?.[BACKUP_REQUEST_ANNOTATION] ?? null,
      }
    : undefined;
  const deleting = volume.metadata.deletionTimestamp !== undefined;
  const upsert = !deleting && desired && (!row || differs(row, desired)) ? desired : undefined;

  const updates: ConditionUpdate[] = [];
  const node = row?.node ?? null;
  if (!observed.tenant) {
    updates.push({ type: 'Bound', status: 'False', reason: 'NoTenant', message: `namespace ${volume.metadata.namespace} belongs to no Tenant: add it to a Tenant's spec.namespaces` });
  } else if (refused && !row) {
    updates.push({ type: 'Bound', status: 'False', reason: 'RestoreNotAllowed', message: `spec.restoreFrom: ${refused}; the volume is not created` });
  } else if (!node && observed.quotaExceeded) {
    updates.push({ type: 'Bound', status: 'False', reason: 'QuotaExceeded', message: observed.quotaExceeded });
  } else if (!node) {
    updates.push(
      spec.node
        ? { type: 'Bound', status: 'False', reason: 'NodeNotFound', message: `spec.node ${spec.node} is not a known Node` }
        : { type: 'Bound', status: 'False', reason: 'WaitingForFirstConsumer', message: 'bound to a node with room when the first App that mounts it is placed' },
    );
  } else {
    updates.push({ type: 'Bound', status: 'True', reason: 'Bound', message: `on node ${node}` });
  }
  updates.push(provisioned(key, row, observed));
  const usage = row?.usage ?? null;
  updates.push(
    usage !== null && usage > size
      ? { type: 'WithinSize', status: 'False', reason: 'SizeExceeded', message: `uses ${binaryQuantity(usage)} of its ${binaryQuantity(size)} (spec.size): grow spec.size or delete data; the process runtime does not enforce it yet` }
      : { type: 'WithinSize', status: 'True', reason: 'WithinSize', message: usage !== null ? `uses ${binaryQuantity(usage)} of ${binaryQuantity(size)}` : '' },
  );
  const backedUp = spec.backup ? backupCondition(spec.backup.schedule, row, volume.metadata.creationTimestamp, env.now) : undefined;

  let conditions: Condition[] = volume.status?.conditions ?? [];
  for (const update of updates) conditions = setCondition(conditions, update, { now: env.now, generation }).conditions;
  conditions = backedUp ? setCondition(conditions, backedUp.update, { now: env.now, generation }).conditions : removeCondition(conditions, 'BackedUp').conditions;

  let deletion: VolumePlan['deletion'];
  let ready: ConditionUpdate;
  if (deleting) {
    deletion = observed.mountedBy.length > 0 ? 'blocked' : !row ? 'done' : !row.node || row.phase === 'deleted' || row.phase === null ? 'remove-row' : row.desired === 'deleted' ? 'wait' : 'mark-deleted';
    ready =
      deletion === 'blocked'
        ? { type: 'Ready', status: 'False', reason: 'DeletionBlocked', message: `still mounted by ${list(observed.mountedBy.map((a) => `App ${a}`))}: remove it from their spec.volumes (or delete them) first` }
        : { type: 'Ready', status: 'False', reason: 'Deleting', message: `removing its data from node ${node ?? '(none)'}; its backups are kept` };
  } else {
    // Ready is about the data being usable; an overdue backup is worth an alert, not an outage.
    ready = { type: 'Ready', ...readySummary(conditions, { dependsOn: VOLUME_CONDITIONS }) };
  }
  conditions = setCondition(conditions, ready, { now: env.now, generation }).conditions;

  const status: VolumeStatus = {
    ...(node ? { node } : {}),
    ...(usage !== null ? { usage: binaryQuantity(usage) } : {}),
    ...(row?.lastBackupAt ? { lastBackupTime: rfc3339Seconds(row.lastBackupAt) } : {}),
    ...(row && row.backups.length > 0
      ? { backups: row.backups.map((b) => ({ id: b.id, time: rfc3339Seconds(new Date(b.time)), size: binaryQuantity(b.sizeBytes), checksum: b.checksum })) }
      : {}),
    conditions,
    observedGeneration: generation,
  };
  const handedOn = !deleting && desired && row?.backupKey && row.backupKey !== desired.backupKey;
  const releaseBackups = row?.node && row.backupKey && (handedOn || deletion === 'remove-row')
    ? { storeKey: row.backupKey, tenant: row.tenant, uid: row.uid, node: row.node }
    : undefined;
  return { upsert, status, ...(deletion ? { deletion } : {}), requeueAfterMs: backedUp?.recheckInMs, ...(releaseBackups ? { releaseBackups } : {}) };
}

function provisioned(key: string, row: VolumeRow | undefined, observed: VolumeObserved): ConditionUpdate {
  if (!row?.node) return { type: 'Provisioned', status: 'False', reason: 'NotBound', message: 'not on a node yet' };
  const lost = observed.node?.lostSince;
  if (lost) return { type: 'Provisioned', status: 'False', reason: 'NodeLost', message: volumeNodeLostMessage(key, row.node, lost, row.backups[row.backups.length - 1]) };
  switch (row.phase) {
    case 'ready':
      return { type: 'Provisioned', status: 'True', reason: 'Provisioned', message: '' };
    case 'restoring':
      return { type: 'Provisioned', status: 'False', reason: 'Restoring', message: row.message ?? `restoring ${row.restoreFrom?.volume} on node ${row.node}` };
    case 'failed':
      return { type: 'Provisioned', status: 'False', reason: 'ProvisioningFailed', message: row.message ?? 'the agent could not create it' };
    default:
      return { type: 'Provisioned', status: 'False', reason: 'Provisioning', message: `waiting for node ${row.node}'s agent to create it` };
  }
}

/** The one sentence for a volume whose node is lost: where the data is, since when, and the two ways out. */
export function volumeNodeLostMessage(key: string, node: string, lostSince: Date, latest: { readonly id: string; readonly time: string } | undefined): string {
  const advice = latest
    ? `restore the latest backup (${latest.id}, ${rfc3339Seconds(new Date(latest.time))}) into a new Volume with spec.restoreFrom, or wait for ${node}`
    : `it has no backup: wait for ${node}`;
  return `data of volume ${key} lives on node ${node}, NotReady since ${rfc3339Seconds(lostSince)}; ${advice}`;
}

function backupCondition(schedule: string, row: VolumeRow | undefined, created: string | undefined, now: Date): { update: ConditionUpdate; recheckInMs: number | undefined } {
  try {
    const last = row?.lastBackupAt ?? undefined;
    const since = last ?? (created ? new Date(created) : now);
    if (backupStale(schedule, since, now)) {
      return {
        update: { type: 'BackedUp', status: 'False', reason: 'BackupOverdue', message: last ? `the last backup (${rfc3339Seconds(last)}) is older than twice its schedule "${schedule}"` : `no backup yet, and two scheduled backups ("${schedule}") have passed` },
        recheckInMs: undefined,
      };
    }
    // Look again the moment it would turn overdue: the second firing after the last backup.
    const second = nextBackupAt(schedule, nextBackupAt(schedule, since));
    const recheckInMs = Math.max(1_000, second.getTime() - now.getTime() + 1_000);
    return {
      update: last
        ? { type: 'BackedUp', status: 'True', reason: 'BackedUp', message: `last backup ${rfc3339Seconds(last)}` }
        : { type: 'BackedUp', status: 'True', reason: 'NotYetDue', message: `first backup at ${rfc3339Seconds(nextBackupAt(schedule, since))}` },
      recheckInMs: Math.min(recheckInMs, 2_147_000_000),
    };
  } catch (err) {
    return { update: { type: 'BackedUp', status: 'False', reason: 'InvalidSchedule', message: `spec.backup.schedule: ${(err as Error).message}` }, recheckInMs: undefined };
  }
}

function differs(row: VolumeRow, desired: VolumeDesiredRow): boolean {
  return (
    row.uid !== desired.uid ||
    row.tenant !== desired.tenant ||
    row.size !== desired.size ||
    (desired.pinnedNode !== null && row.node === null) ||
    JSON.stringify(row.restoreFrom) !== JSON.stringify(desired.restoreFrom) ||
    row.backupSchedule !== desired.backupSchedule ||
    row.backupRetain !== desired.backupRetain ||
    row.backupRequest !== desired.backupRequest ||
    row.backupKey !== desired.backupKey
  );
}

function list(items: readonly string[]): string {
  return items.length <= 3 ? items.join(', ') : `${items.slice(0, 3).join(', ')} and ${items.length - 3} more`;
}
