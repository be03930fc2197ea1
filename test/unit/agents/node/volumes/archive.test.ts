import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BackupChecksumError, backupVolume, restoreVolume, volumeUsageBytes } from '../../../../../agents/node/volumes/archive.js';
import { FolderBackupStore } from '../../../../../agents/node/volumes/folder-backup-store.js';

const temporaries: string[] = [];
afterEach(() => {
  for (const dir of temporaries.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tend-volume-archive-'));
  temporaries.push(dir);
  return dir;
}

/** A volume with the awkward cases: nesting, empty things, odd names, modes tar must not lose, links. */
function buildVolume(dir: string): void {
  mkdirSync(join(dir, 'data/nested/deeper'), { recursive: true });
  mkdirSync(join(dir, 'empty-dir'));
  writeFileSync(join(dir, 'data/big.bin'), randomBytes(300_000));
  writeFileSync(join(dir, 'data/nested/deeper/note.txt'), 'deep\n');
  writeFileSync(join(dir, 'empty-file'), '');
  writeFileSync(join(dir, 'spaces and ünïcode ✓.txt'), 'names\n');
  writeFileSync(join(dir, `${'long-name-'.repeat(15)}.txt`), 'a name longer than the 100 bytes of a ustar header\n');
  for (let i = 0; i < 50; i++) writeFileSync(join(dir, 'data/nested', `small-${i}.txt`), `file ${i}\n`);
  writeFileSync(join(dir, 'group-writable'), 'shared\n');
  chmodSync(join(dir, 'group-writable'), 0o664); // wider than the usual umask 022
  writeFileSync(join(dir, 'script.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(dir, 'script.sh'), 0o755);
  writeFileSync(join(dir, 'private'), 'secret\n');
  chmodSync(join(dir, 'private'), 0o600);
  chmodSync(join(dir, 'data/nested/deeper'), 0o555);
  chmodSync(dir, 0o750);
  symlinkSync('data/nested/deeper/note.txt', join(dir, 'relative-link'));
  symlinkSync('/does/not/exist', join(dir, 'dangling-link'));
  linkSync(join(dir, 'data/nested/deeper/note.txt'), join(dir, 'hard-link'));
  utimesSync(join(dir, 'data/big.bin'), new Date('2025-06-01T00:00:00Z'), new Date('2025-06-01T00:00:00Z'));
  // tar keeps whole seconds (node-tar rounds): files written in the second half of a second
  // would come back a second later, so the other files get a whole-second time too.
  const wholeSecond = new Date(Math.floor(Date.now() / 1000) * 1000);
  const files = ['data/nested/deeper/note.txt', 'empty-file', 'spaces and ünïcode ✓.txt', `${'long-name-'.repeat(15)}.txt`, 'group-writable', 'script.sh', 'private'];
  for (let i = 0; i < 50; i++) files.push(`data/nested/small-${i}.txt`);
  for (const file of files) utimesSync(join(dir, file), wholeSecond, wholeSecond);
}

/** What a restore must reproduce, path by path: type, mode, content or link target, file mtime. */
function snapshot(dir: string): Record<string, string> {
  const result: Record<string, string> = {};
  const walk = (relativePath: string): void => {
    const path = join(dir, relativePath);
    const st = lstatSync(path);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) result[relativePath] = `link -> ${readlinkSync(path)}`;
    else if (st.isFile()) {
      const digest = createHash('sha256').update(readFileSync(path)).digest('hex');
      result[relativePath] = `file ${mode} ${st.size} ${digest} mtime ${Math.floor(st.mtimeMs / 1000)}`;
    } else if (st.isDirectory()) {
      result[relativePath] = `dir ${mode}`;
      for (const name of readdirSync(path).sort()) walk(join(relativePath, name));
    } else result[relativePath] = 'other';
  };
  walk('.');
  return result;
}

function setUp(): { base: string; volume: string; store: FolderBackupStore } {
  const base = tempDir();
  const volume = join(base, 'volume');
  mkdirSync(volume);
  buildVolume(volume);
  return { base, volume, store: new FolderBackupStore(join(base, 'backups')) };
}

/** Expects `promise` to reject with the checksum error for that volume and backup. */
async function expectChecksumError(promise: Promise<unknown>, volumeKey: string, id: string): Promise<void> {
  const error = await promise.then(() => undefined, (err: unknown) => err);
  expect(error).toBeInstanceOf(BackupChecksumError);
  expect((error as Error).message).toContain(`backup ${id} of volume ${volumeKey} is corrupt`);
  expect((error as Error).message).toContain('nothing was restored');
}

describe('backupVolume and restoreVolume', () => {
  it('restore gives back the identical tree: contents, modes, links and mtimes', async () => {
    const { base, volume, store } = setUp();
    const before = snapshot(volume);

    const info = await backupVolume(volume, store, 'acme/db', 'b1');
    const restored = await restoreVolume(store, 'acme/db', 'b1', join(base, 'restored'));

    expect(snapshot(join(base, 'restored'))).toEqual(before);
    expect(lstatSync(join(base, 'restored/hard-link')).ino).toBe(lstatSync(join(base, 'restored/data/nested/deeper/note.txt')).ino);
    expect(restored).toEqual(info);
    // The recorded size and checksum are those of the archive bytes as stored.
    const archive = readFileSync(join(store.folderOf('acme/db'), 'b1.tar'));
    expect(info.sizeBytes).toBe(archive.length);
    expect(info.checksum).toBe(createHash('sha256').update(archive).digest('hex'));
    // The staging sibling is gone.
    expect(readdirSync(base).sort()).toEqual(['backups', 'restored', 'volume']);
  });

  it('writes a gzip archive when asked, which restores the same', async () => {
    const { base, volume, store } = setUp();

    await backupVolume(volume, store, 'acme/db', 'zipped', { gzip: true });
    await restoreVolume(store, 'acme/db', 'zipped', join(base, 'restored'));

    expect([...readFileSync(join(store.folderOf('acme/db'), 'zipped.tar')).subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    expect(snapshot(join(base, 'restored'))).toEqual(snapshot(volume));
  });

  it('restores into an existing empty directory, and refuses one that holds data, untouched', async () => {
    const { base, volume, store } = setUp();
    await backupVolume(volume, store, 'acme/db', 'b1');
    mkdirSync(join(base, 'empty'));
    mkdirSync(join(base, 'full'));
    writeFileSync(join(base, 'full/keep.txt'), 'mine');

    await restoreVolume(store, 'acme/db', 'b1', join(base, 'empty'));
    await expect(restoreVolume(store, 'acme/db', 'b1', join(base, 'full'))).rejects.toThrow(/acme\/db into .*full: it is not empty/);

    expect(snapshot(join(base, 'empty'))).toEqual(snapshot(volume));
    expect(readdirSync(join(base, 'full'))).toEqual(['keep.txt']);
  });

  it('fails on a flipped byte inside a file’s content with the checksum error, leaving the target absent', async () => {
    const { base, volume, store } = setUp();
    const info = await backupVolume(volume, store, 'acme/db', 'b1');
    const archivePath = join(store.folderOf('acme/db'), 'b1.tar');
    const archive = readFileSync(archivePath);
    // Inside big.bin's 300 kB: tar itself cannot notice, only the checksum can.
    const offset = archive.indexOf(readFileSync(join(volume, 'data/big.bin')).subarray(0, 64)) + 150_000;
    archive[offset] = archive[offset]! ^ 0xff;
    writeFileSync(archivePath, archive);

    await expectChecksumError(restoreVolume(store, 'acme/db', 'b1', join(base, 'restored')), 'acme/db', 'b1');

    expect(readdirSync(base).sort()).toEqual(['backups', 'volume']);
    // The record is untouched, so a retry fails the same way rather than trusting the new bytes.
    expect((await store.list('acme/db'))[0]).toEqual(info);
  });

  it('reports a damaged header, a truncated archive and extra bytes as corruption, not as a tar error', async () => {
    const { base, volume, store } = setUp();
    await backupVolume(volume, store, 'acme/db', 'b1');
    const archivePath = join(store.folderOf('acme/db'), 'b1.tar');
    const original = readFileSync(archivePath);
    const damagedHeader = Buffer.from(original);
    damagedHeader.fill(0x41, 0, 200);
    const damaged = [damagedHeader, original.subarray(0, 100_000), Buffer.concat([original, randomBytes(10_000)])];

    for (const bytes of damaged) {
      writeFileSync(archivePath, bytes);
      await expectChecksumError(restoreVolume(store, 'acme/db', 'b1', join(base, 'restored')), 'acme/db', 'b1');
      expect(readdirSync(base).sort()).toEqual(['backups', 'volume']);
    }
  });

  it('reports damage to a gzip archive as corruption too', async () => {
    const { base, volume, store } = setUp();
    await backupVolume(volume, store, 'acme/db', 'zipped', { gzip: true });
    const archivePath = join(store.folderOf('acme/db'), 'zipped.tar');
    const archive = readFileSync(archivePath);
    archive.fill(0, 2_000, 6_000);
    writeFileSync(archivePath, archive);

    await expectChecksumError(restoreVolume(store, 'acme/db', 'zipped', join(base, 'restored')), 'acme/db', 'zipped');

    expect(readdirSync(base).sort()).toEqual(['backups', 'volume']);
  });

  it('fails a stored archive that is intact but not a tar, naming the backup, with nothing restored', async () => {
    const base = tempDir();
    const store = new FolderBackupStore(join(base, 'backups'));
    await store.put('acme/db', 'garbage', (async function* () {
      yield randomBytes(10_000);
    })());

    await expect(restoreVolume(store, 'acme/db', 'garbage', join(base, 'restored'))).rejects.toThrow(/^restoring backup garbage of volume acme\/db: /);

    expect(readdirSync(base)).toEqual(['backups']);
  });

  it('never writes through a symlink of the archive, even one the archive itself creates', async () => {
    const base = tempDir();
    const outside = join(base, 'outside');
    mkdirSync(outside);
    // A tar that no directory could produce: `a` a symlink to outside, then a symlink `a/escape`.
    const crafted = join(base, 'crafted');
    mkdirSync(crafted);
    symlinkSync(outside, join(crafted, 'a'));
    execFileSync('tar', ['-cf', join(base, 'evil.tar'), '-C', crafted, 'a']);
    rmSync(join(crafted, 'a'));
    mkdirSync(join(crafted, 'a'));
    symlinkSync('/etc/passwd', join(crafted, 'a/escape'));
    execFileSync('tar', ['-rf', join(base, 'evil.tar'), '-C', crafted, 'a/escape']);
    const store = new FolderBackupStore(join(base, 'backups'));
    await store.put('acme/db', 'evil', (async function* () {
      yield readFileSync(join(base, 'evil.tar'));
    })());

    await expect(restoreVolume(store, 'acme/db', 'evil', join(base, 'restored'))).rejects.toThrow(/refusing symlink "a\/escape": its folder is reached through a symlink/);

    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(base).sort()).toEqual(['backups', 'crafted', 'evil.tar', 'outside']);
  });

  it('leaves sockets and FIFOs out of the backup with a warning instead of hanging on them', async () => {
    const base = tempDir();
    const volume = join(base, 'volume');
    mkdirSync(volume);
    writeFileSync(join(volume, 'data.txt'), 'kept\n');
    execFileSync('mkfifo', [join(volume, 'fifo')]);
    const server = createServer().listen(join(volume, 'socket'));
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const store = new FolderBackupStore(join(base, 'backups'));
      const warnings: string[] = [];

      await backupVolume(volume, store, 'acme/db', 'b1', { onWarning: (code, message) => warnings.push(`${code} ${message}`) });
      await restoreVolume(store, 'acme/db', 'b1', join(base, 'restored'));

      expect(readdirSync(join(base, 'restored'))).toEqual(['data.txt']);
      expect(warnings.sort()).toEqual([
        'TEND_SPECIAL_FILE_SKIPPED ./fifo: not a file, directory or symlink; left out of the backup',
        'TEND_SPECIAL_FILE_SKIPPED ./socket: not a file, directory or symlink; left out of the backup',
      ]);
    } finally {
      server.close();
    }
  });

  it('commits no backup of a directory that does not exist', async () => {
    const base = tempDir();
    const store = new FolderBackupStore(join(base, 'backups'));

    await expect(backupVolume(join(base, 'missing'), store, 'acme/db', 'b1')).rejects.toThrow(/ENOENT/);

    expect(await store.list('acme/db')).toEqual([]);
  });
});

describe('volumeUsageBytes', () => {
  it('sums regular files recursively, counts hard links once and does not follow symlinks', async () => {
    const base = tempDir();
    const volume = join(base, 'volume');
    mkdirSync(join(volume, 'a/b/c'), { recursive: true });
    writeFileSync(join(volume, 'one'), Buffer.alloc(1_000));
    writeFileSync(join(volume, 'a/two'), Buffer.alloc(20_000));
    writeFileSync(join(volume, 'a/b/c/three'), Buffer.alloc(300));
    linkSync(join(volume, 'a/two'), join(volume, 'a/b/two-again'));
    writeFileSync(join(base, 'outside'), Buffer.alloc(5_000_000));
    symlinkSync(join(base, 'outside'), join(volume, 'link-to-file'));
    symlinkSync(base, join(volume, 'link-to-dir'));

    expect(await volumeUsageBytes(volume)).toBe(21_300);
    expect(await volumeUsageBytes(join(volume, 'a/b/c'))).toBe(300);
    await expect(volumeUsageBytes(join(base, 'missing'))).rejects.toThrow(/ENOENT/);
  });
});
