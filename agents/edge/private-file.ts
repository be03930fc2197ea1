/**
 * Writing a file that only this user may read, atomically: a temporary file beside it (mode 0600
 * from its first byte, created exclusively, flushed to disk), then one rename — so a reader, or a
 * process killed mid-write, sees the old file or the new one, never half. The edge's snapshots
 * (routing table, certificates) are written this way.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Replaces `path` with `text`; rejects when the disk refuses (the old file, if any, stays). */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const folder = dirname(path);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const temporary = join(folder, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // 'wx': never through a file someone else put there; mode 0600 from the first byte.
    const file = await open(temporary, 'wx', 0o600);
    try {
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => {});
    throw err;
  }
}
