import { createHash, pbkdf2 } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { BackupNotFoundError } from '../../../../../agents/node/volumes/backup-store.js';
import { FolderBackupStore } from '../../../../../agents/node/volumes/folder-backup-store.js';

const temporaries: string[] = [];
afterEach(() => {
  for (const dir of temporaries.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tend-backup-store-'));
  temporaries.push(dir);
  return dir;
}

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield Buffer.from(part);
}

/** A store on a fake clock that moves one minute per backup. */
function storeIn(root: string): FolderBackupStore {
  let minute = 0;
  return new FolderBackupStore(root, { now: () => new Date(Date.UTC(2026, 0, 1, 3, minute++)) });
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

describe('FolderBackupStore', () => {
  it('gives back the bytes it was given with their size and sha256, readable by the agent alone', async () => {
    const store = storeIn(join(tempDir(), 'backups'));

    const info = await store.put('acme/web', 'b1', chunks('hello ', 'world'));

    expect(info).toEqual({ id: 'b1', time: new Date('2026-01-01T03:00:00Z'), sizeBytes: 11, checksum: sha256('hello world') });
    const stored = await store.get('acme/web', 'b1');
    expect(stored.info).toEqual(info);
    expect(await text(stored.archive)).toBe('hello world');
    const folder = store.folderOf('acme/web');
    expect(readdirSync(folder).sort()).toEqual(['b1.json', 'b1.tar']);
    expect(JSON.parse(readFileSync(join(folder, 'b1.json'), 'utf8'))).toEqual({
      version: 1, id: 'b1', volume: 'acme/web', time: '2026-01-01T03:00:00.000Z', sizeBytes: 11, checksum: sha256('hello world'),
    });
    for (const path of [store.root, folder]) expect(statSync(path).mode & 0o077).toBe(0);
    for (const name of ['b1.json', 'b1.tar']) expect(statSync(join(folder, name)).mode & 0o077).toBe(0);
  });

  it('lists a volume’s backups oldest first, and only that volume’s', async () => {
    const store = storeIn(tempDir());
    await store.put('acme/web', 'zz-first', chunks('1'));
    await store.put('acme/db', 'other', chunks('x'));
    await store.put('acme/web', 'aa-second', chunks('22'));

    expect((await store.list('acme/web')).map((b) => [b.id, b.sizeBytes])).toEqual([['zz-first', 1], ['aa-second', 2]]);
    expect((await store.list('acme/db')).map((b) => b.id)).toEqual(['other']);
    expect(await store.list('acme/never')).toEqual([]);
  });

  it('never overwrites a backup', async () => {
    const store = storeIn(tempDir());
    await store.put('acme/web', 'b1', chunks('original'));

    await expect(store.put('acme/web', 'b1', chunks('replacement'))).rejects.toThrow(/acme\/web already has a backup b1/);

    expect(await text((await store.get('acme/web', 'b1')).archive)).toBe('original');
  });

  it('commits nothing when the archive stream fails midway', async () => {
    const store = storeIn(tempDir());
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('partial');
      throw new Error('tar failed');
    }

    await expect(store.put('acme/web', 'b1', failing())).rejects.toThrow('tar failed');

    expect(await store.list('acme/web')).toEqual([]);
    expect(readdirSync(store.folderOf('acme/web'))).toEqual([]);
    await expect(store.get('acme/web', 'b1')).rejects.toBeInstanceOf(BackupNotFoundError);
  });

  it('leaves no temporary file behind however early the archive stream fails', async () => {
    // The put used to remove its temporary file while the file was still being opened, so the
    // open could create it after the removal: a `.put-<uuid>` left now and then (a flaky test).
    const store = storeIn(tempDir());
    async function* failsAt(chunk: number): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < chunk; i++) yield Buffer.from('partial');
      throw new Error('tar failed');
    }
    let leftBehind = 0;
    for (let attempt = 0; attempt < 300; attempt++) {
      // Keep libuv's pool busy (as a whole suite does) so the temporary file's open is slow.
      const busy = Array.from({ length: 4 }, () => new Promise((resolve) => pbkdf2('x', 'y', 2_000, 32, 'sha256', resolve)));
      await expect(store.put('acme/web', `b${attempt}`, failsAt(attempt % 3))).rejects.toThrow('tar failed');
      if (readdirSync(store.folderOf('acme/web')).length > 0) leftBehind++;
      await Promise.all(busy);
    }
    expect(leftBehind).toBe(0);
  });

  it('sweeps what a crashed put left before the next one, and never lists it', async () => {
    const store = storeIn(tempDir());
    await store.put('acme/web', 'kept', chunks('k'));
    const folder = store.folderOf('acme/web');
    writeFileSync(join(folder, '.put-0b6c5a9e'), 'half an archive');
    writeFileSync(join(folder, 'crashed.tar'), 'archive renamed, manifest never written');

    expect((await store.list('acme/web')).map((b) => b.id)).toEqual(['kept']);
    await store.put('acme/web', 'next', chunks('n'));

    expect(readdirSync(folder).sort()).toEqual(['kept.json', 'kept.tar', 'next.json', 'next.tar']);
  });

  it('ignores manifests that do not describe that file of that volume', async () => {
    const store = storeIn(tempDir());
    await store.put('acme/web', 'b1', chunks('1'));
    const folder = store.folderOf('acme/web');
    // A copy under another name, a torn file, and another volume's folder copied over this one's.
    writeFileSync(join(folder, 'copy.json'), readFileSync(join(folder, 'b1.json')));
    writeFileSync(join(folder, 'torn.json'), '{"version":1,"id":"to');
    mkdirSync(store.folderOf('acme/copied'));
    writeFileSync(join(store.folderOf('acme/copied'), 'b1.json'), readFileSync(join(folder, 'b1.json')));

    expect((await store.list('acme/web')).map((b) => b.id)).toEqual(['b1']);
    expect(await store.list('acme/copied')).toEqual([]);
    await expect(store.get('acme/copied', 'b1')).rejects.toBeInstanceOf(BackupNotFoundError);
  });

  it('removes a backup for good, and removing one that is gone is not an error', async () => {
    const store = storeIn(tempDir());
    await store.put('acme/web', 'b1', chunks('1'));
    await store.put('acme/web', 'b2', chunks('2'));

    await store.remove('acme/web', 'b1');
    await store.remove('acme/web', 'b1');
    await store.remove('acme/never', 'b1');

    expect((await store.list('acme/web')).map((b) => b.id)).toEqual(['b2']);
    expect(readdirSync(store.folderOf('acme/web')).sort()).toEqual(['b2.json', 'b2.tar']);
    await expect(store.get('acme/web', 'b1')).rejects.toThrow('volume acme/web has no backup b1');
  });

  it('keeps every volume key inside its own folder directly under the root', async () => {
    const base = tempDir();
    const root = join(base, 'backups');
    const store = storeIn(root);
    const keys = [
      '../../etc', '..', '.', '/', '/etc/passwd', 'a/../../b', 'acme/../../../outside', '..\\..\\windows', 'nul\0byte',
      'acme/web', 'acme_2fweb', 'ACME/web', 'acme.web', 'acme/wéb', `long/${'x'.repeat(400)}`, `long/${'x'.repeat(399)}y`,
    ];

    const folders = keys.map((key) => store.folderOf(key));
    for (const key of keys) await store.put(key, 'b1', chunks(key));

    for (const folder of folders) {
      expect(folder.startsWith(`${store.root}${sep}`)).toBe(true);
      expect(relative(store.root, folder)).not.toContain(sep);
      expect(Buffer.byteLength(relative(store.root, folder))).toBeLessThanOrEqual(255);
    }
    // One folder per key: no two keys share backups, and nothing was written outside the root.
    expect(new Set(folders).size).toBe(keys.length);
    expect(readdirSync(base)).toEqual(['backups']);
    expect(filesUnder(root)).toHaveLength(2 * keys.length);
    for (const key of keys) expect(await text((await store.get(key, 'b1')).archive)).toBe(key);
    expect(() => store.folderOf('')).toThrow(RangeError);
  });

  it('refuses backup ids that are not plain names', async () => {
    const base = tempDir();
    const store = storeIn(join(base, 'backups'));
    for (const id of ['../escape', '..', '.hidden', 'a/b', '', 'x'.repeat(201), 'tab\tid']) {
      await expect(store.put('acme/web', id, chunks('x')), id).rejects.toThrow(RangeError);
      await expect(store.get('acme/web', id), id).rejects.toThrow(RangeError);
      await expect(store.remove('acme/web', id), id).rejects.toThrow(RangeError);
    }
    expect(readdirSync(base)).toEqual(['backups']);
    expect(filesUnder(base)).toEqual([]);
  });
});
