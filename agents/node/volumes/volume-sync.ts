/**
 * The node agent's side of Volumes: makes the directories of the volumes bound to this node match
 * platform.volumes, and writes back what it observed (phase, usage, backups).
 *
 * Design notes
 * - One pass (`syncVolumes`) per agent sync and per tend_volumes notification. A pass reads the
 *   node's rows, does the quick work inline (mkdir, measuring usage, deleting a directory) and
 *   starts the slow work — restores and backups — in the background, at most one per volume, so
 *   heartbeats never wait for a 500 MB archive. When background work finishes it calls `onChange`
 *   and the agent syncs again. `VolumeSyncState` carries that work from pass to pass.
 * - Unchanged ⇒ no write: every value is compared with the row before a query is sent, and the
 *   queries compare again (volume-queries.ts), so a steady state writes nothing.
 * - A directory exists only when complete: mkdir is atomic, and `restoreVolume` extracts into a
 *   hidden sibling and renames it into place after the checksum matched. So "the directory
 *   exists" is the readiness test, also after an agent restart.
 * - 'failed' is sticky: a restore that failed (no such backup, a corrupt archive) or a directory
 *   that vanished while the volume was 'ready' is not retried, because `restoreFrom` cannot change
 *   and silently starting empty would hide lost data; the message says what happened. Deleting
 *   the Volume (desired 'deleted') always works. Failed backups are retried after `backupRetryMs`.
 * - Backups go to the store under the row's backup key (`tenant/uid`, chosen by the controller):
 *   never under the name, which a later Volume or another tenant may reuse. Deleting removes the
 *   directory; the backups stay until the controller's retention ends (platform.backup_sets),
 *   then the prune pass (at most every `pruneIntervalMs`) removes them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Queryable } from '../../../framework/index.js';
import { backupVolume, restoreVolume, volumeUsageBytes } from './archive.js';
import { backupDue, backupsToPrune } from '../../../reconcilers/backup-schedule.js';
import type { BackupInfo, BackupStore } from './backup-store.js';
import {
  forgetBackupSet,
  prunableBackupSets,
  recordVolumeBackups,
  reportVolumeUsage,
  setVolumeMessage,
  setVolumePhase,
  volumesOfNode,
  type VolumeBackupRecord,
  type VolumePhase,
  type VolumeRow,
} from './volume-queries.js';

export interface VolumeSyncOptions {
  readonly node: string;
  readonly store: Queryable;
  readonly backupStore: BackupStore;
  /** The agent's state folder: volume directories are `<stateDir>/volumes/<namespace>/<name>`. */
  readonly stateDir: string;
  readonly logger: Logger;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Measure a volume's usage at most this often (it walks the whole tree). @default 0: every pass */
  readonly usageIntervalMs?: number;
  /** After a failed backup, wait this long before the next attempt. @default 60_000 */
  readonly backupRetryMs?: number;
  /** Called when a restore or backup has finished, so the agent syncs again. */
  readonly onChange?: () => void;
  /** The 4 hex digits that end a backup id. @default random */
  readonly randomHex?: () => string;
  /** Look for released backups past their retention at most this often. @default 60_000 */
  readonly pruneIntervalMs?: number;
}

export interface VolumeSyncResult {
  /** key ("namespace/name") → directory of every volume ready on this node, for planAgent. */
  readonly ready: ReadonlyMap<string, string>;
  /** Settles (never rejects) once the restores and backups started by this pass have finished. */
  readonly background: Promise<void>;
}

interface Operation {
  readonly kind: 'restore' | 'backup';
  readonly done: Promise<void>;
}

/** What one pass leaves to the next: running restores and backups, and a few timestamps. */
export class VolumeSyncState {
  /** @internal at most one restore or backup per volume key */
  readonly running = new Map<string, Operation>();
  /** @internal key → ms of the last usage measurement */
  readonly usageMeasuredAt = new Map<string, number>();
  /** @internal key → ms of the last failed backup */
  readonly backupFailedAt = new Map<string, number>();
  /** @internal backup keys whose volume's `backups` column was checked against the store since the agent started */
  readonly listed = new Set<string>();
  /** @internal ms of the last prune pass */
  prunedAt: number | undefined;

  /** Resolves once no restore or backup is running (including ones started meanwhile). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()].map((op) => op.done));
  }
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * The directory of volume `key` ("namespace/name") on this node. The key comes from the API, so it
 * is checked (a DNS label, then an object name of at most 253 characters) and can never name
 * "..", an absolute path or a deeper folder; throws a RangeError naming it otherwise.
 */
export function volumeDir(stateDir: string, key: string): string {
  const [namespace, name, ...rest] = key.split('/');
  if (rest.length > 0 || !namespace || !name || !NAMESPACE.test(namespace) || name.length > 253 || !NAME.test(name)) {
    throw new RangeError(`volume key ${JSON.stringify(key)} must be namespace/name (a DNS label, then an object name)`);
  }
  return join(resolve(stateDir), 'volumes', namespace, name);
}

/** A backup id: the UTC time to the second and 4 hex digits, e.g. 20261129T120301Z-a1b2. */
export function newBackupId(time: Date, hex: string = randomBytes(2).toString('hex')): string {
  return `${time.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '')}-${hex}`;
}

/** One pass over the volumes bound to `options.node`; see the module notes. */
export async function syncVolumes(options: VolumeSyncOptions, state: VolumeSyncState): Promise<VolumeSyncResult> {
  const rows = await options.store.query<VolumeRow>(volumesOfNode, [options.node]);
  const ready = new Map<string, string>();
  const started: Promise<void>[] = [];
  const log = options.logger;
  for (const row of rows) {
    try {
      const dir = await syncVolume(options, state, row, started);
      if (dir !== undefined) ready.set(row.key, dir);
    } catch (err) {
      // One volume's trouble (a bad key, a full disk) must not stop the others or the instances.
      log.warn({ volume: row.key, err: (err as Error).message }, 'volume sync failed; retrying on the next pass');
    }
  }
  await pruneReleased(options, state).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'pruning released backups failed; retrying later'));
  return { ready, background: Promise.all(started).then(() => undefined) };
}

/** Where `row`'s backups live in the store. */
function storeKeyOf(row: VolumeRow): string {
  return row.backupKey ?? row.key;
}

/** Removes the backups of deleted volumes whose retention is over, then their record; at most every `pruneIntervalMs`. */
async function pruneReleased(options: VolumeSyncOptions, state: VolumeSyncState): Promise<void> {
  const now = (options.now?.() ?? new Date()).getTime();
  if (state.prunedAt !== undefined && now - state.prunedAt < (options.pruneIntervalMs ?? 60_000)) return;
  state.prunedAt = now;
  for (const { storeKey } of await options.store.query<{ storeKey: string }>(prunableBackupSets, [options.node])) {
    const backups = await options.backupStore.list(storeKey);
    for (const b of backups) await options.backupStore.remove(storeKey, b.id);
    await options.store.query(forgetBackupSet, [storeKey, options.node]);
    options.logger.info({ storeKey, pruned: backups.length }, 'released backups pruned after their retention');
  }
}

/** Syncs one volume; returns its directory when it is ready. */
async function syncVolume(options: VolumeSyncOptions, state: VolumeSyncState, row: VolumeRow, started: Promise<void>[]): Promise<string | undefined> {
  const { store, node } = options;
  const log = options.logger.child({ volume: row.key });
  const dir = volumeDir(options.stateDir, row.key);
  const running = state.running.get(row.key);
  const setPhase = async (phase: VolumePhase, message: string | null) => {
    if (row.phase !== phase || row.message !== message) await store.query(setVolumePhase, [row.key, node, phase, message]);
  };

  if (row.desired === 'deleted') {
    if (running) return undefined; // the next pass, after it finished (onChange)
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    await removeStaging(dir);
    if (row.phase !== 'deleted') log.info({ dir }, 'volume deleted; its backups are kept');
    await setPhase('deleted', null);
    for (const memo of [state.usageMeasuredAt, state.backupFailedAt]) memo.delete(row.key);
    state.listed.delete(storeKeyOf(row));
    return undefined;
  }
  if (running?.kind === 'restore') return undefined;

  if (!(await isDirectory(dir))) {
    if (row.phase === 'ready') {
      const message = `the directory ${dir} of this volume is missing on node ${node}: its data is gone; delete the Volume, or create a new one from a backup`;
      log.error({ dir }, 'volume directory missing');
      await setPhase('failed', message);
      return undefined;
    }
    if (row.phase === 'failed') return undefined; // sticky: see the module notes
    if (row.restoreFrom) {
      await setPhase('restoring', null);
      started.push(begin(options, state, row.key, 'restore', () => restore(options, row, dir, log)));
      return undefined;
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    log.info({ dir }, 'volume provisioned');
  }
  await setPhase('ready', row.phase === 'ready' ? row.message : null);

  const now = options.now?.() ?? new Date();
  const measuredAt = state.usageMeasuredAt.get(row.key);
  if (measuredAt === undefined || now.getTime() - measuredAt >= (options.usageIntervalMs ?? 0)) {
    const usage = await volumeUsageBytes(dir);
    state.usageMeasuredAt.set(row.key, now.getTime());
    if (usage !== row.usage) await store.query(reportVolumeUsage, [row.key, node, usage]);
  }

  if (!running) {
    if (!state.listed.has(storeKeyOf(row))) await reconcileBackupList(options, row);
    state.listed.add(storeKeyOf(row));
    const why = backupWanted(options, state, row, now);
    if (why.error !== undefined && row.message !== why.error) await store.query(setVolumeMessage, [row.key, node, why.error]);
    if (why.reason !== undefined) {
      log.info({ reason: why.reason }, 'backing up volume');
      started.push(begin(options, state, row.key, 'backup', () => backup(options, state, row, dir, now, log)));
    }
  }
  return dir;
}

/**
 * Why a backup should start now (a request, the schedule), and what is wrong with the settings
 * if anything (reported in `message`). A bad schedule still lets a request through; a bad retain
 * blocks both, as pruning would fail after the backup.
 */
function backupWanted(options: VolumeSyncOptions, state: VolumeSyncState, row: VolumeRow, now: Date): { reason?: string; error?: string } {
  try {
    backupsToPrune([], row.backupRetain); // throws for a retain the schema would refuse
  } catch (err) {
    return { error: (err as Error).message };
  }
  let scheduled = false;
  let error: string | undefined;
  if (row.backupSchedule !== null) {
    try {
      scheduled = backupDue(row.backupSchedule, row.lastBackupAt ?? undefined, row.boundAt ?? now, now);
    } catch (err) {
      error = (err as Error).message;
    }
  }
  const failedAt = state.backupFailedAt.get(row.key);
  const waiting = failedAt !== undefined && now.getTime() - failedAt < (options.backupRetryMs ?? 60_000);
  const requested = row.backupRequest !== null && row.backupRequest !== row.backupRequestDone;
  const reason = waiting ? undefined : requested ? `requested: ${row.backupRequest}` : scheduled ? `scheduled: ${row.backupSchedule}` : undefined;
  return { ...(reason !== undefined ? { reason } : {}), ...(error !== undefined ? { error } : {}) };
}

/** Runs `work` as the volume's one background operation; wakes the agent when it is over. */
function begin(options: VolumeSyncOptions, state: VolumeSyncState, key: string, kind: Operation['kind'], work: () => Promise<void>): Promise<void> {
  const done = work()
    .catch((err: unknown) => options.logger.error({ volume: key, err: (err as Error).message }, `volume ${kind} crashed`))
    .finally(() => {
      state.running.delete(key);
      options.onChange?.();
    });
  state.running.set(key, { kind, done });
  return done;
}

/** Fills `dir` from the row's restore_from; writes phase 'ready' or 'failed'. */
async function restore(options: VolumeSyncOptions, row: VolumeRow, dir: string, log: Logger): Promise<void> {
  const from = row.restoreFrom!;
  // The spec names a Volume of the same namespace; accept the bare name as well as namespace/name.
  const source = from.volume.includes('/') ? from.volume : `${row.key.split('/')[0]}/${from.volume}`;
  // The backup key the controller resolved (of this tenant only); rows from before it: the name.
  const storeKey = from.source === undefined ? source : from.source;
  let id = from.backup ?? null;
  let phase: VolumePhase = 'ready';
  let message: string | null = null;
  try {
    // Backups hold a tenant's data: never hand one to a volume of another namespace.
    if (source.split('/')[0] !== row.key.split('/')[0]) throw new Error(`volume ${source} is not in the namespace of ${row.key}`);
    await removeStaging(dir); // what a crashed restore of this volume left behind
    if (storeKey === null) throw new Error(`volume ${source} has no backup`);
    if (id === null) {
      id = (await options.backupStore.list(storeKey)).at(-1)?.id ?? null;
      if (id === null) throw new Error(`volume ${source} has no backup`);
    }
    const info = await restoreVolume(options.backupStore, storeKey, id, dir, { onWarning: (code, text) => log.warn({ code }, text) });
    log.info({ source, backup: id, sizeBytes: info.sizeBytes }, 'volume restored');
  } catch (err) {
    phase = 'failed';
    message = `restoring backup ${id ?? '(latest)'} of volume ${source} failed: ${(err as Error).message}`;
    log.error({ source, backup: id, err: (err as Error).message }, 'volume restore failed');
  }
  await options.store.query(setVolumePhase, [row.key, options.node, phase, message]);
}

/** Takes one backup of `dir`, prunes beyond `backup_retain`, and records the kept ones. */
async function backup(options: VolumeSyncOptions, state: VolumeSyncState, row: VolumeRow, dir: string, now: Date, log: Logger): Promise<void> {
  const { backupStore, store, node } = options;
  // Captured now: a request that arrives during the backup is served by the next one.
  const served = row.backupRequest !== null && row.backupRequest !== row.backupRequestDone ? row.backupRequest : null;
  const id = newBackupId(now, options.randomHex?.());
  try {
    const info = await backupVolume(dir, backupStore, storeKeyOf(row), id, { onWarning: (code, text) => log.warn({ code }, text) });
    const list = await backupStore.list(storeKeyOf(row));
    const prune = backupsToPrune(list, row.backupRetain);
    for (const old of prune) await backupStore.remove(storeKeyOf(row), old.id);
    const pruned = new Set(prune.map((b) => b.id));
    const kept = list.filter((b) => !pruned.has(b.id)).map(backupRecord);
    await store.query(recordVolumeBackups, [row.key, node, JSON.stringify(kept), info.time.toISOString(), served, true]);
    state.backupFailedAt.delete(row.key);
    log.info({ backup: id, sizeBytes: info.sizeBytes, pruned: [...pruned], kept: kept.length }, 'volume backed up');
  } catch (err) {
    const message = `backup ${id} failed: ${(err as Error).message}`;
    log.warn({ backup: id, err: (err as Error).message }, 'volume backup failed; retrying later');
    state.backupFailedAt.set(row.key, now.getTime());
    state.listed.delete(storeKeyOf(row)); // the store may hold more than the row says: look again
    await store.query(setVolumeMessage, [row.key, node, message]);
  }
}

/**
 * Makes the row's `backups` list what the store holds, once per volume per agent start: heals a
 * crash between a committed backup and its row write, and backups removed by hand.
 */
async function reconcileBackupList(options: VolumeSyncOptions, row: VolumeRow): Promise<void> {
  const kept = (await options.backupStore.list(storeKeyOf(row))).map(backupRecord);
  if (sameRecords(kept, row.backups)) return;
  const last = kept.at(-1)?.time ?? row.lastBackupAt?.toISOString() ?? null;
  await options.store.query(recordVolumeBackups, [row.key, options.node, JSON.stringify(kept), last, null, false]);
}

function backupRecord(info: BackupInfo): VolumeBackupRecord {
  return { id: info.id, time: info.time.toISOString(), sizeBytes: info.sizeBytes, checksum: `sha256:${info.checksum}` };
}

/** Field by field: jsonb reorders object keys, so the row's JSON text differs from ours. */
function sameRecords(a: readonly VolumeBackupRecord[], b: readonly VolumeBackupRecord[]): boolean {
  return a.length === b.length && a.every((x, i) => {
    const y = b[i]!;
    return x.id === y.id && x.time === y.time && x.sizeBytes === y.sizeBytes && x.checksum === y.checksum;
  });
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    const st = await stat(path);
    if (!st.isDirectory()) throw new Error(`${path} exists but is not a directory`);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Deletes the hidden staging folders restoreVolume makes beside `dir` (`.<name>.restore-XXXXXX`). */
async function removeStaging(dir: string): Promise<void> {
  const parent = dirname(dir);
  const prefix = `.${dir.slice(parent.length + 1).slice(0, 100)}.restore-`;
  let names: string[];
  try {
    names = await readdir(parent);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    // Exactly mkdtemp's six characters: `.a.restore-b.restore-XXXXXX` belongs to volume "a.restore-b".
    if (name.startsWith(prefix) && /^[A-Za-z0-9]{6}$/.test(name.slice(prefix.length))) {
      await rm(join(parent, name), { recursive: true, force: true, maxRetries: 3 });
    }
  }
}
