/**
 * Where Volume backups live: the contract the node agent talks to, so a folder on the node
 * (folder-backup-store.ts, the default) can later be swapped for object storage without the
 * backup and restore code (archive.ts) changing.
 *
 * A store keeps opaque archive bytes per volume key (`namespace/name`) and backup id. It records,
 * as it writes them, their size and sha256 — in the same pass, so a 500 MB archive is read once —
 * and hands that record back with the bytes, so a restore can prove it got exactly what was stored.
 */
import type { Readable } from 'node:stream';

/** What a store knows about one kept backup (status.backups[] is built from this). */
export interface BackupInfo {
  readonly id: string;
  /** When the backup was committed to the store (after its last byte was durable). */
  readonly time: Date;
  /** The archive's size in bytes, as stored. */
  readonly sizeBytes: number;
  /** sha256 of the archive bytes, 64 lowercase hex digits (status writes it as `sha256:<hex>`). */
  readonly checksum: string;
}

/** A backup opened for reading: its record and its bytes, to be checked against each other. */
export interface StoredBackup {
  readonly info: BackupInfo;
  /** The archive bytes; the caller must consume or destroy it. */
  readonly archive: Readable;
}

export interface BackupStore {
  /**
   * Stores `archive` as backup `id` of the volume, computing its size and sha256 as it streams,
   * and commits it only once every byte is durable: a failure or crash leaves no backup behind.
   * Fails if the id already exists (a backup is never overwritten). Calls for the same volume
   * must not overlap (the agent runs one backup per volume at a time).
   */
  put(volumeKey: string, id: string, archive: AsyncIterable<Uint8Array>): Promise<BackupInfo>;
  /** Opens a committed backup; throws `BackupNotFoundError` if there is none with that id. */
  get(volumeKey: string, id: string): Promise<StoredBackup>;
  /** The committed backups of the volume, oldest first; empty if it never had one. */
  list(volumeKey: string): Promise<BackupInfo[]>;
  /** Deletes the backup; removing one that is not there is not an error (pruning is idempotent). */
  remove(volumeKey: string, id: string): Promise<void>;
}

/** Thrown by `BackupStore.get` when the volume has no committed backup with that id. */
export class BackupNotFoundError extends Error {
  constructor(
    readonly volumeKey: string,
    readonly backupId: string,
  ) {
    super(`volume ${volumeKey} has no backup ${backupId}`);
    this.name = 'BackupNotFoundError';
  }
}

/**
 * Backup ids become file and object names, so they are restricted to a safe alphabet that can
 * neither climb out of a folder ("..", "/") nor collide with a store's hidden temporary files (a
 * leading "."); 200 characters leave room for a suffix within a file system's 255-byte names.
 */
export const BACKUP_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Throws a RangeError naming the id unless it matches `BACKUP_ID_PATTERN`. */
export function assertBackupId(id: string): void {
  if (!BACKUP_ID_PATTERN.test(id)) {
    throw new RangeError(`backup id ${JSON.stringify(id)} must match ${BACKUP_ID_PATTERN.source}`);
  }
}
