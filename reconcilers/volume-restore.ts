/**
 * Backups belong to the tenant that made them. Pure.
 *
 * The backup store keeps a volume's backups under `tenant/uid` (its backup key), so a Volume made
 * again under an old name, or a namespace handed to another tenant, starts with none. A Volume's
 * `restoreFrom.volume` names a Volume of its namespace, live or deleted: the controller resolves it
 * to the backup key of that Volume (live) or of its kept backups (deleted: platform.backup_sets,
 * newest first), taking only one of this Volume's own tenant; a source that only another tenant
 * has backups of is refused with reason RestoreNotAllowed. The backups of a deleted Volume, and
 * those a tenant made before its namespace went to another, are kept for the retention period,
 * then the agent that took them prunes them.
 */

/** The backup key of a volume: its tenant and uid. */
export function backupKeyOf(tenant: string, uid: string): string {
  return `${tenant}/${uid}`;
}

/** A place backups of the named source may be: its live volume, or a released set. */
export interface RestoreCandidate {
  readonly storeKey: string;
  readonly tenant: string;
}

export type RestoreSource =
  /** Restore from the backups under `storeKey` (null: none known; the agent says the volume has no backup). */
  | { readonly storeKey: string | null }
  | { readonly refused: string };

/**
 * Where the backups of `restoreFrom.volume` are for a Volume of `tenant`: the first candidate of
 * that tenant (`live` first, then `released` in the order given, newest first), else refused when
 * another tenant has some, else none.
 */
export function resolveRestore(source: string, tenant: string, live: RestoreCandidate | undefined, released: readonly RestoreCandidate[]): RestoreSource {
  const candidates = [...(live ? [live] : []), ...released];
  const own = candidates.find((c) => c.tenant === tenant);
  if (own) return { storeKey: own.storeKey };
  if (candidates.length > 0) {
    return { refused: `the backups of volume ${source} were made by another tenant: restoreFrom only restores backups of this tenant (${tenant})` };
  }
  return { storeKey: null };
}
