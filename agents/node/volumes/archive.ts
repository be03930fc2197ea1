/**
 * Backing up and restoring one volume directory through a BackupStore, and measuring its usage.
 *
 * Design notes
 * - A backup is a plain tar of the directory (node-tar, symlinks kept as links, owners, modes and
 *   mtimes recorded), streamed straight into the store, which hashes it as it writes: the data is
 *   read once and never staged on disk. gzip is optional (level 1) and off by default: volumes
 *   mostly hold already-compressed data, and on 500 MiB of such data (bench/volumes.ts, 2 cores)
 *   it took the backup from ~160 to ~30 MiB/s to save under 1 % of the bytes, and made no
 *   restore faster.
 * - A restore never leaves a half-restored volume. It extracts into a hidden sibling of the target
 *   (same file system, so the final rename is atomic), hashes the archive bytes as they stream in,
 *   and renames the sibling into place only when size and sha256 match what the store recorded;
 *   otherwise it deletes the sibling and throws `BackupChecksumError`, leaving the target as it was.
 *   When the bytes are corrupt, that is the error reported even if tar choked on them first.
 * - The target must be absent or an empty directory: restoring over data would mix two volumes.
 * - The tar is not a snapshot: files changing during the backup are archived as read. A file
 *   deleted between listing and reading fails the backup (node-tar treats it as an error), and the
 *   next scheduled run tries again.
 */
import { createHash } from 'node:crypto';
import { constants, readFileSync, type Dirent } from 'node:fs';
import { lchown, lstat, mkdir, mkdtemp, open, readdir, realpath, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { create, Unpack, type ReadEntry } from 'tar';
import type { BackupInfo, BackupStore } from './backup-store.js';

export interface BackupVolumeOptions {
  /** Compress the tar with gzip (level 1). @default false (see the design notes for why) */
  readonly gzip?: boolean;
  /** Called for what tar skipped or changed but did not fail on (a socket in the volume, say). */
  readonly onWarning?: (code: string, message: string) => void;
}

export interface RestoreVolumeOptions {
  /** Called for what tar skipped or changed but did not fail on. */
  readonly onWarning?: (code: string, message: string) => void;
}

/** The archive bytes of a backup are not the bytes that were stored: nothing was restored. */
export class BackupChecksumError extends Error {
  constructor(
    readonly volumeKey: string,
    readonly backupId: string,
    readonly expected: { readonly checksum: string; readonly sizeBytes: number },
    readonly actual: { readonly checksum: string; readonly sizeBytes: number },
  ) {
    super(
      `backup ${backupId} of volume ${volumeKey} is corrupt: its archive has sha256 ${actual.checksum} ` +
        `(${actual.sizeBytes} bytes read), but ${expected.checksum} (${expected.sizeBytes} bytes) was recorded; nothing was restored`,
    );
    this.name = 'BackupChecksumError';
  }
}

/** Archives `dir` into the store as backup `id` of the volume, in one streaming pass. */
export async function backupVolume(
  dir: string,
  store: BackupStore,
  volumeKey: string,
  id: string,
  options: BackupVolumeOptions = {},
): Promise<BackupInfo> {
  const root = resolve(dir);
  // node-tar reports a missing cwd as an error on the stream; say which volume instead.
  if (!(await stat(root)).isDirectory()) throw new Error(`cannot back up volume ${volumeKey}: ${root} is not a directory`);
  const pack = create(
    {
      cwd: root,
      gzip: options.gzip ? { level: 1 } : false,
      // node-tar would block forever reading a FIFO and stalls on a socket; neither holds data.
      filter: (path, entry) => {
        if (!('isFile' in entry) || entry.isFile() || entry.isDirectory() || entry.isSymbolicLink()) return true;
        options.onWarning?.('TEND_SPECIAL_FILE_SKIPPED', `${path}: not a file, directory or symlink; left out of the backup`);
        return false;
      },
      onwarn: (code, message) => options.onWarning?.(code, String(message)),
    },
    // '.' rather than the children: the root's own mode, owner and mtime are restored too.
    ['.'],
  );
  return store.put(volumeKey, id, pack);
}

/** Restores backup `id` of the volume into `targetDir` (absent or empty), all or nothing. */
export async function restoreVolume(
  store: BackupStore,
  volumeKey: string,
  id: string,
  targetDir: string,
  options: RestoreVolumeOptions = {},
): Promise<BackupInfo> {
  const target = resolve(targetDir);
  await assertRestorableTarget(target, volumeKey, id);
  const { info, archive } = await store.get(volumeKey, id);
  let staging: string | undefined;
  try {
    await mkdir(dirname(target), { recursive: true });
    staging = await mkdtemp(join(dirname(target), `.${basename(target).slice(0, 100)}.restore-`));
    const read = await extractHashing(archive, staging, info.sizeBytes, options);
    if (read.checksum !== info.checksum || read.sizeBytes !== info.sizeBytes) {
      throw new BackupChecksumError(volumeKey, id, info, read);
    }
    if (read.failure) {
      throw new Error(`restoring backup ${id} of volume ${volumeKey}: ${read.failure.message}`, { cause: read.failure });
    }
    // Only now that the bytes are proven ours: symlinks first (their folders may be read-only
    // once their modes are back), then the modes.
    for (const link of read.symlinks) await createSymlink(staging, link);
    for (const { entry, mode } of read.modes) await restoreMode(String(entry.absolute), mode, entry.type === 'Directory');
    // Replaces an empty target directory atomically; fails (and we clean up) if it filled meanwhile.
    await rename(staging, target);
    staging = undefined;
    return info;
  } finally {
    archive.destroy();
    // Retries cover an aborted gzip stream, after which tar may still finish a file it had begun.
    if (staging) await rm(staging, { recursive: true, force: true, maxRetries: 5 });
  }
}

/** Bytes in the regular files under `dir`, recursively; symlinks are not followed, hard links count once. */
export async function volumeUsageBytes(dir: string): Promise<number> {
  const root = resolve(dir);
  const seenLinks = new Set<string>();
  const pending = [root];
  let total = 0;
  for (let folder = pending.pop(); folder !== undefined; folder = pending.pop()) {
    let entries: Dirent[];
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (err) {
      // A live volume changes while we walk it: a vanished subfolder is simply empty now.
      if (folder !== root && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const files: string[] = [];
    for (const entry of entries) {
      if (entry.isDirectory()) pending.push(join(folder, entry.name));
      else if (entry.isFile()) files.push(join(folder, entry.name));
    }
    // Bounded batches: parallel enough to keep the libuv pool busy, without 100k pending promises.
    for (let i = 0; i < files.length; i += 64) {
      const stats = await Promise.all(files.slice(i, i + 64).map((file) => lstat(file).catch(ignoreVanished)));
      for (const st of stats) {
        if (!st?.isFile()) continue;
        if (st.nlink > 1) {
          const inode = `${st.dev}:${st.ino}`;
          if (seenLinks.has(inode)) continue;
          seenLinks.add(inode);
        }
        total += st.size;
      }
    }
  }
  return total;
}

function ignoreVanished(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT') return undefined;
  throw err;
}

async function assertRestorableTarget(target: string, volumeKey: string, id: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`cannot restore backup ${id} of volume ${volumeKey} into ${target}: ${(err as Error).message}`, { cause: err });
  }
  if (entries.length > 0) throw new Error(`cannot restore backup ${id} of volume ${volumeKey} into ${target}: it is not empty`);
}

/** A symlink as the archive recorded it, created by us rather than by tar (see `extractHashing`). */
interface SymlinkEntry {
  readonly path: string;
  readonly target: string;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
}

interface Extracted {
  readonly checksum: string;
  readonly sizeBytes: number;
  /** Why tar gave up, if it did; the bytes were still all read and hashed. */
  readonly failure?: Error;
  readonly symlinks: readonly SymlinkEntry[];
  /** Entries whose recorded mode tar did not (or may not have) applied. */
  readonly modes: readonly { readonly entry: ReadEntry; readonly mode: number }[];
}

/**
 * Feeds the archive to tar while hashing every byte. A tar failure stops extraction but not the
 * hashing, so corrupt bytes are reported as such; reading stops early only once more bytes than
 * recorded have arrived, as the checksum cannot match then.
 *
 * Symlinks are left to the caller: node-tar, to protect against hostile archives, rewrites an
 * absolute target ("/srv/data" becomes "srv/data") and refuses one that leads out of the folder,
 * yet both are ordinary content of a volume. Its other protections (no "..", no absolute entry
 * paths, no extracting through a symlink) stay on.
 */
async function extractHashing(archive: AsyncIterable<Uint8Array>, cwd: string, expectedBytes: number, options: RestoreVolumeOptions): Promise<Extracted> {
  const umask = processUmask();
  const symlinks: SymlinkEntry[] = [];
  // Files are created with mode & ~umask and node-tar does not chmod new files, so group-writable
  // or setuid files would come back narrower; it also makes every directory owner-writable (so it
  // can fill it). These entries get their recorded mode back at the end; the mode is read here,
  // as tar later changes the entry's.
  const modes: { entry: ReadEntry; mode: number }[] = [];
  const unpack = new Unpack({
    cwd,
    // Any damaged or refused entry fails the restore rather than silently leaving a file out.
    strict: true,
    chmod: true,
    processUmask: umask,
    filter: (_path, entry) => {
      if (!('type' in entry) || entry.type !== 'SymbolicLink') return true;
      symlinks.push({ path: entry.path, target: entry.linkpath ?? '', uid: entry.uid, gid: entry.gid });
      return false;
    },
    onReadEntry: (entry) => {
      const mode = (entry.mode ?? 0) & 0o7777;
      const narrowed = (entry.type === 'File' || entry.type === 'OldFile') && (mode & umask) !== 0;
      if (narrowed || entry.type === 'Directory') modes.push({ entry, mode });
    },
    onwarn: (code, message) => options.onWarning?.(code, String(message)),
  });
  let failure: Error | undefined;
  // Set while waiting for 'drain', which never comes once tar has failed.
  let wake: (() => void) | undefined;
  // 'close' comes once every file tar started is written, even after a failed entry, so the
  // caller may delete the folder without racing tar; an abort (gzip damage) is final at once.
  const finished = new Promise<void>((done) => {
    unpack.on('close', done);
    unpack.on('abort', done);
  });
  unpack.on('error', (err: Error) => {
    failure ??= err;
    wake?.();
  });
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of archive) {
    hash.update(chunk);
    sizeBytes += chunk.byteLength;
    if (sizeBytes > expectedBytes) break;
    if (failure !== undefined) continue;
    const accepted = unpack.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    // The write itself may have failed tar (a gzip error is raised synchronously): no drain then.
    if (!accepted && (failure as Error | undefined) === undefined) {
      await new Promise<void>((resume) => {
        wake = resume;
        unpack.once('drain', resume);
      });
      unpack.off('drain', wake!);
      wake = undefined;
    }
  }
  // Also after a failure: tar then winds down what it started and closes.
  unpack.end();
  await finished;
  return { checksum: hash.digest('hex'), sizeBytes, symlinks, modes, ...(failure ? { failure } : {}) };
}

/**
 * Creates a recorded symlink under `root`, refusing a path that climbs out of it or passes
 * through another symlink, so even a bad archive cannot make us write outside the staging folder.
 */
async function createSymlink(root: string, link: SymlinkEntry): Promise<void> {
  const relativePath = posix.normalize(link.path);
  if (posix.isAbsolute(relativePath) || relativePath.split('/').includes('..') || relativePath === '.') {
    throw new Error(`refusing symlink ${JSON.stringify(link.path)}: its path leaves the volume`);
  }
  const path = join(root, relativePath);
  const parent = dirname(path);
  if ((await realpath(parent)) !== join(await realpath(root), relative(root, parent))) {
    throw new Error(`refusing symlink ${JSON.stringify(link.path)}: its folder is reached through a symlink`);
  }
  await symlink(link.target, path);
  // As tar does for files: the recorded owner when we may set it (root), else ours.
  if (process.getuid?.() === 0 && link.uid !== undefined && link.gid !== undefined) await lchown(path, link.uid, link.gid);
}

/** Sets an extracted entry's recorded mode through a descriptor opened without following symlinks. */
async function restoreMode(path: string, mode: number, directory: boolean): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | (directory ? constants.O_DIRECTORY : 0));
  try {
    if (((await handle.stat()).mode & 0o7777) !== mode) await handle.chmod(mode);
  } finally {
    await handle.close();
  }
}

/**
 * This process's umask, from /proc (Linux, where the agent runs): `process.umask()` without an
 * argument is deprecated because reading it means setting it, which races with other threads.
 */
function processUmask(): number {
  try {
    const match = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match?.[1]) return Number.parseInt(match[1], 8);
  } catch {
    // not Linux: assume the usual
  }
  return 0o022;
}
