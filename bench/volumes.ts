/**
 * `npx tsx bench/volumes.ts [--mb 500] [--keep]`: how fast a volume is backed up and restored
 * (agents/node/volumes/archive.ts into a FolderBackupStore), next to GNU tar on the same data.
 *
 * Builds a directory of `--mb` MiB in a fresh temporary folder — 60 % in files of up to 32 MiB,
 * 40 % in small files of 1–64 KiB, 100 to a folder; the content is slices of a 16 MiB random
 * pool at random offsets, so it is written at memory speed yet gzip finds nothing to compress —
 * then times, one after the other: our backup and restore as plain tar, `tar -cf` (alone and
 * followed by an fsync of the archive, which our store always does before it commits), `tar -xf`,
 * and our backup and restore with gzip. MiB/s is the volume's data (not the archive) per second
 * of wall time; CPU is user + system seconds of this process, or of the tar child. The data stays
 * in the page cache throughout (it was just written, and the machine has room), so the figures
 * are the CPU and write-back costs, not the read speed of a cold disk; every restore is checked
 * to hold as many bytes as the source.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { backupVolume, restoreVolume, volumeUsageBytes } from '../agents/node/volumes/archive.js';
import { FolderBackupStore } from '../agents/node/volumes/folder-backup-store.js';
import { seededRandom } from '../framework/testing/index.js';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '500' },
    keep: { type: 'boolean', default: false },
  },
});
const MiB = 2 ** 20;
const MB = Number(values.mb);
if (!(MB > 0)) {
  console.error(`bench/volumes: --mb must be a positive number, not ${values.mb}`);
  process.exit(2);
}
const run = promisify(execFile);

interface Row {
  readonly what: string;
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly archiveBytes?: number;
}

/** Writes the workload; returns how many files it made of each kind. */
function buildVolume(dir: string, totalBytes: number): { large: number; small: number } {
  const rand = seededRandom(20_260_101);
  const pool = randomBytes(16 * MiB);
  const write = (path: string, size: number): void => {
    const fd = openSync(path, 'w');
    try {
      for (let left = size; left > 0; ) {
        const length = Math.min(left, 4 * MiB);
        const offset = Math.floor(rand() * (pool.length - length));
        writeSync(fd, pool, offset, length);
        left -= length;
      }
    } finally {
      closeSync(fd);
    }
  };
  mkdirSync(join(dir, 'large'), { recursive: true });
  let large = 0;
  for (let left = Math.round(totalBytes * 0.6); left > 0; large++) {
    const size = Math.min(left, 32 * MiB);
    write(join(dir, 'large', `blob-${large}.bin`), size);
    left -= size;
  }
  let small = 0;
  for (let left = totalBytes - Math.round(totalBytes * 0.6); left > 0; small++) {
    const folder = join(dir, 'small', `d${Math.floor(small / 100)}`);
    if (small % 100 === 0) mkdirSync(folder, { recursive: true });
    const size = Math.min(left, 1024 + Math.floor(rand() * 63 * 1024));
    write(join(folder, `f${small}.dat`), size);
    left -= size;
  }
  return { large, small };
}

/** User + system CPU seconds of this process, and of its children that have been waited for. */
function cpu(): { own: number; children: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  const ticks = (i: number) => Number(fields[i]) / 100;
  return { own: ticks(11) + ticks(12), children: ticks(13) + ticks(14) };
}

async function timed(what: string, fn: () => Promise<number | void>, child = false): Promise<Row> {
  const cpuBefore = cpu();
  const start = performance.now();
  const archiveBytes = await fn();
  const seconds = (performance.now() - start) / 1000;
  const cpuAfter = cpu();
  const cpuSeconds = child ? cpuAfter.children - cpuBefore.children : cpuAfter.own - cpuBefore.own;
  return { what, seconds, cpuSeconds, ...(typeof archiveBytes === 'number' ? { archiveBytes } : {}) };
}

async function expectSameSize(dir: string, sourceBytes: number): Promise<void> {
  const bytes = await volumeUsageBytes(dir);
  if (bytes !== sourceBytes) throw new Error(`${dir} holds ${bytes} bytes after the restore, the source ${sourceBytes}`);
}

const base = mkdtempSync(join(tmpdir(), 'tend-bench-volumes-'));
try {
  const source = join(base, 'source');
  const buildStart = performance.now();
  const files = buildVolume(source, Math.round(MB * MiB));
  const sourceBytes = await volumeUsageBytes(source);
  const store = new FolderBackupStore(join(base, 'backups'));
  const gnuArchive = join(base, 'gnu.tar');
  console.log(
    `volumes: ${(sourceBytes / MiB).toFixed(0)} MiB in ${files.large} large files and ${files.small.toLocaleString('en')} small ones ` +
      `(built in ${((performance.now() - buildStart) / 1000).toFixed(1)} s) under ${base}`,
  );

  const rows: Row[] = [];
  rows.push(await timed('tend backup (tar)', async () => (await backupVolume(source, store, 'bench/volume', 'plain')).sizeBytes));
  rows.push(await timed('tend restore (tar)', async () => {
    await restoreVolume(store, 'bench/volume', 'plain', join(base, 'restored-tend'));
  }));
  await expectSameSize(join(base, 'restored-tend'), sourceBytes);
  rows.push(await timed('tar -cf', async () => {
    await run('tar', ['-cf', gnuArchive, '-C', source, '.']);
    return Number((await run('stat', ['-c', '%s', gnuArchive])).stdout);
  }, true));
  rmSync(gnuArchive);
  rows.push(await timed('tar -cf, then fsync', async () => {
    await run('tar', ['-cf', gnuArchive, '-C', source, '.']);
    await run('sync', [gnuArchive]);
  }, true));
  mkdirSync(join(base, 'restored-gnu'));
  rows.push(await timed('tar -xf', async () => {
    await run('tar', ['-xf', gnuArchive, '-C', join(base, 'restored-gnu')]);
  }, true));
  await expectSameSize(join(base, 'restored-gnu'), sourceBytes);
  rows.push(await timed('tend backup (tar + gzip -1)', async () => (await backupVolume(source, store, 'bench/volume', 'gzip', { gzip: true })).sizeBytes));
  rows.push(await timed('tend restore (tar + gzip)', async () => {
    await restoreVolume(store, 'bench/volume', 'gzip', join(base, 'restored-tend-gzip'));
  }));
  await expectSameSize(join(base, 'restored-tend-gzip'), sourceBytes);

  console.log(`  ${'what'.padEnd(28)} ${'seconds'.padStart(8)} ${'MiB/s'.padStart(8)} ${'CPU s'.padStart(7)} ${'archive MiB'.padStart(12)}`);
  for (const row of rows) {
    const archive = row.archiveBytes === undefined ? '' : (row.archiveBytes / MiB).toFixed(1);
    console.log(
      `  ${row.what.padEnd(28)} ${row.seconds.toFixed(2).padStart(8)} ${(sourceBytes / MiB / row.seconds).toFixed(0).padStart(8)} ` +
        `${row.cpuSeconds.toFixed(2).padStart(7)} ${archive.padStart(12)}`,
    );
  }
} finally {
  if (values.keep) console.log(`kept ${base}`);
  else rmSync(base, { recursive: true, force: true });
}
