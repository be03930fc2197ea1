/**
 * Volume claims: a volume is single-writer (ReadWriteOnce), so one App at a time may run
 * instances on it — the one whose controller claimed it first (platform.volume_claims). Pure.
 *
 * An App claims all the volumes it mounts at once or none: holding one while waiting for another
 * would let two Apps each hold what the other waits for. The holder keeps its claim until it stops
 * mounting the volume (its spec drops it, or it is deleted) and none of its instances mounts it
 * any more; only then may another App's instance start there. The waiting Apps are woken when the
 * claim goes (NOTIFY tend_volumes); the first whose controller claims it gets it.
 */

/** One row of platform.volume_claims. */
export interface VolumeClaim {
  /** namespace/name of the Volume. */
  readonly volume: string;
  /** namespace/name of the App that holds it. */
  readonly app: string;
}

/** Another App holds a volume this App mounts: nothing of this App runs on it. */
export interface VolumeHeld {
  readonly reason: 'VolumeInUse';
  readonly message: string;
  /** The volumes held by others (namespace/name): an instance of this App mounting one stops. */
  readonly volumes: readonly string[];
}

/**
 * What `app` (namespace/name) must do before placing on `volumes` (namespace/name each): claim
 * those free (`claim`, possibly none), or wait because another App holds one.
 */
export function volumeClaimVerdict(app: string, volumes: readonly string[], claims: readonly VolumeClaim[]): { readonly claim: readonly string[] } | VolumeHeld {
  const holders = new Map(claims.map((c) => [c.volume, c.app]));
  const held = volumes.filter((v) => holders.has(v) && holders.get(v) !== app);
  if (held.length > 0) return { reason: 'VolumeInUse', message: volumeInUseMessage(held[0]!, holders.get(held[0]!)!), volumes: held };
  return { claim: volumes.filter((v) => !holders.has(v)) };
}

/** The sentence for Scheduled=False VolumeInUse: which volume, which App holds it, and how it is freed. */
export function volumeInUseMessage(volume: string, holder: string): string {
  const [volumeNs] = volume.split('/');
  const [holderNs, holderName] = holder.split('/') as [string, string];
  const name = holderNs === volumeNs ? holderName : holder;
  return `volume ${volume} is single-writer and mounted by App ${name}: no instance starts until ${name} stops mounting it (remove it from its spec.volumes or delete it)`;
}

/** The sentence for Scheduled=False VolumeDeleting. */
export function volumeDeletingMessage(volume: string): string {
  return `volume ${volume} is being deleted: no instance of this App mounts it; remove it from spec.volumes (its deletion waits for every App that lists it)`;
}
