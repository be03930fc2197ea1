/**
 * The default BackupStore: a folder on the node, one subfolder per volume, and per backup an
 * archive `<id>.tar` with a manifest `<id>.json` beside it (id, volume, time, size, sha256).
 *
 * Design notes
 * - The manifest is the commit point. `put` streams into a hidden temporary file while hashing,
 *   fsyncs it, renames it to `<id>.tar`, then writes the manifest the same way and fsyncs the
 *   folder. A crash at any step leaves either no manifest (no backup; the leftovers are swept by
 *   the volume's next put) or a complete, durable one. `remove` deletes the manifest first for the
 *   same reason.
 * - Volume keys are untrusted text (`namespace/name` from the API): each becomes one folder name
 *   by an injective escaping that keeps `[a-z0-9-]` and writes every other byte as `_hh`, so no
 *   key can name `..`, a path separator or another key's folder; overlong keys are shortened with
 *   a sha256 suffix. The result is checked to sit directly under the root anyway.
 * - Everything is created 0700/0600: backups hold the apps' data, secrets included.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BackupNotFoundError, assertBackupId, type BackupInfo, type BackupStore, type StoredBackup } from './backup-store.js';

export interface FolderBackupStoreOptions {
  /** The clock stamped on each committed backup. @default () => new Date() */
  readonly now?: () => Date;
}

/** The manifest file beside each archive. */
interface Manifest {
  readonly version: 1;
  readonly id: string;
  /** The volume key in clear, so a listing can never return another key's backups. */
  readonly volume: string;
  /** RFC 3339. */
  readonly time: string;
  readonly sizeBytes: number;
  readonly checksum: string;
}

const ARCHIVE = '.tar';
const MANIFEST = '.json';
/** Hidden, and not derived from the id, so it never collides with a backup and stays short. */
const TEMPORARY_PREFIX = '.put-';
/** Folder names longer than this are shortened with a hash; file systems allow 255 bytes. */
const MAX_FOLDER_NAME = 200;

/** Backups as files under one root folder on the node. */
export class FolderBackupStore implements BackupStore {
  readonly root: string;
  private readonly now: () => Date;

  constructor(root: string, options: FolderBackupStoreOptions = {}) {
    this.root = resolve(root);
    this.now = options.now ?? (() => new Date());
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
  }

  /** The folder holding the volume's backups: always a direct child of the root, whatever the key. */
  folderOf(volumeKey: string): string {
    if (volumeKey.length === 0) throw new RangeError('volume key must not be empty');
    let name = '';
    for (const byte of Buffer.from(volumeKey, 'utf8')) {
      const c = String.fromCharCode(byte);
      name += /[a-z0-9-]/.test(c) ? c : `_${byte.toString(16).padStart(2, '0')}`;
    }
    if (name.length > MAX_FOLDER_NAME) {
      // "~" never appears in an escaped name, so shortened names cannot equal unshortened ones.
      name = `${name.slice(0, MAX_FOLDER_NAME - 65)}~${createHash('sha256').update(volumeKey).digest('hex')}`;
    }
    const folder = join(this.root, name);
    if (dirname(folder) !== this.root) throw new Error(`volume key ${JSON.stringify(volumeKey)} escapes ${this.root}`);
    return folder;
  }

  async put(volumeKey: string, id: string, archive: AsyncIterable<Uint8Array>): Promise<BackupInfo> {
    assertBackupId(id);
    const folder = this.folderOf(volumeKey);
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const archivePath = join(folder, `${id}${ARCHIVE}`);
    const manifestPath = join(folder, `${id}${MANIFEST}`);
    if (await exists(manifestPath)) throw new Error(`volume ${volumeKey} already has a backup ${id}; backups are never overwritten`);
    // Puts for one volume never overlap, so anything half-written here is a crashed put's.
    await this.sweep(folder);

    const temporary = join(folder, `${TEMPORARY_PREFIX}${randomUUID()}`);
    // flush: fsync before close, so the rename below never publishes unwritten blocks.
    const sink = createWriteStream(temporary, { flags: 'wx', mode: 0o600, flush: true });
    try {
      const hash = createHash('sha256');
      let sizeBytes = 0;
      await pipeline(
        archive,
        async function* (source: AsyncIterable<Uint8Array>) {
          for await (const chunk of source) {
            hash.update(chunk);
            sizeBytes += chunk.byteLength;
            yield chunk;
          }
        },
        sink,
      );
      await rename(temporary, archivePath);
      // The archive's name must be durable before a manifest can point at it.
      await fsyncFolder(folder);
      const info: BackupInfo = { id, time: this.now(), sizeBytes, checksum: hash.digest('hex') };
      const manifest: Manifest = { version: 1, id, volume: volumeKey, time: info.time.toISOString(), sizeBytes, checksum: info.checksum };
      await writeDurably(manifestPath, `${JSON.stringify(manifest)}\n`);
      await fsyncFolder(folder);
      return info;
    } catch (err) {
      // pipeline can reject while the file is still being opened (a busy libuv pool): removing it
      // before the sink has closed let the open create it afterwards, a `.put-` file left behind.
      if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
      await rm(temporary, { force: true });
      throw err;
    }
  }

  async get(volumeKey: string, id: string): Promise<StoredBackup> {
    assertBackupId(id);
    const folder = this.folderOf(volumeKey);
    const info = await this.readManifest(folder, volumeKey, `${id}${MANIFEST}`);
    if (!info) throw new BackupNotFoundError(volumeKey, id);
    // Open now, so a missing archive fails here rather than midway through a restore.
    const handle = await open(join(folder, `${id}${ARCHIVE}`), 'r').catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new BackupNotFoundError(volumeKey, id) : err;
    });
    return { info, archive: handle.createReadStream({ highWaterMark: 1 << 20 }) };
  }

  async list(volumeKey: string): Promise<BackupInfo[]> {
    const folder = this.folderOf(volumeKey);
    let names: string[];
    try {
      names = await readdir(folder);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const infos: BackupInfo[] = [];
    for (const name of names) {
      if (!name.endsWith(MANIFEST) || name.startsWith('.')) continue;
      const info = await this.readManifest(folder, volumeKey, name);
      if (info) infos.push(info);
    }
    return infos.sort((a, b) => a.time.getTime() - b.time.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async remove(volumeKey: string, id: string): Promise<void> {
    assertBackupId(id);
    const folder = this.folderOf(volumeKey);
    // Manifest first: from that instant the backup no longer exists, even if the archive stays.
    await rm(join(folder, `${id}${MANIFEST}`), { force: true });
    await rm(join(folder, `${id}${ARCHIVE}`), { force: true });
  }

  /**
   * The manifest as BackupInfo, or undefined when it is missing or is not a manifest of this
   * volume and id (renames by hand, torn copies): such files are not backups, and one unreadable
   * file must not hide the others.
   */
  private async readManifest(folder: string, volumeKey: string, name: string): Promise<BackupInfo | undefined> {
    let manifest: Manifest;
    try {
      manifest = JSON.parse(await readFile(join(folder, name), 'utf8')) as Manifest;
    } catch {
      return undefined;
    }
    const time = new Date(manifest.time);
    if (
      manifest.version !== 1 ||
      `${manifest.id}${MANIFEST}` !== name ||
      manifest.volume !== volumeKey ||
      Number.isNaN(time.getTime()) ||
      !Number.isSafeInteger(manifest.sizeBytes) ||
      !/^[0-9a-f]{64}$/.test(manifest.checksum)
    ) {
      return undefined;
    }
    return { id: manifest.id, time, sizeBytes: manifest.sizeBytes, checksum: manifest.checksum };
  }

  /** Deletes what crashed puts and removes left: temporary files, and archives without a manifest. */
  private async sweep(folder: string): Promise<void> {
    const names = new Set(await readdir(folder));
    for (const name of names) {
      const orphan = name.endsWith(ARCHIVE) && !names.has(`${name.slice(0, -ARCHIVE.length)}${MANIFEST}`);
      if (name.startsWith(TEMPORARY_PREFIX) || orphan) await rm(join(folder, name), { force: true });
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Replaces `path` atomically with `text`, fsynced: readers see the old file or the whole new one. */
async function writeDurably(path: string, text: string): Promise<void> {
  const temporary = join(dirname(path), `${TEMPORARY_PREFIX}${randomUUID()}`);
  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
}

/** Makes the renames in `folder` durable (a rename lives in the directory, not the file). */
async function fsyncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
