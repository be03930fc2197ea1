import type { Condition, Resource } from '../../framework/index.js';
import type { QuantityValue } from './tenant.js';

/** schemas/volume.schema.json's spec. */
export interface VolumeSpec {
  size: QuantityValue;
  node?: string;
  backup?: { schedule: string; retain?: number };
  restoreFrom?: { volume: string; backup?: string };
}

/** One kept backup, as status lists it. */
export interface VolumeBackup {
  id: string;
  time: string;
  size?: string;
  checksum?: string;
}

export interface VolumeStatus {
  node?: string;
  usage?: string;
  lastBackupTime?: string;
  backups?: VolumeBackup[];
  conditions?: Condition[];
  observedGeneration?: number;
}

export type Volume = Resource<VolumeSpec, VolumeStatus>;

/** Asks the agent for a backup now: any new value of this annotation (e.g. a timestamp). */
export const BACKUP_REQUEST_ANNOTATION = 'tend.dev/backup-request';
