/**
 * The edge's copy on disk of the last certificates it read from PostgreSQL, so that an edge
 * (re)started while PostgreSQL cannot be read serves HTTPS as well as plain HTTP (the routing
 * snapshot's twin, `routing-snapshot.ts`). It holds the rows exactly as read: certificates, which
 * are public, and private keys only sealed to the certificates key — the file is 0600 all the
 * same, and useless without the key file. Written atomically (`private-file.ts`).
 */
import { readFile } from 'node:fs/promises';
import type { CertificateRow } from './certificate-table.js';
import { writePrivateFile } from './private-file.js';

const FORMAT = 'tend.dev/certificates-snapshot/v1';

/** The snapshot's file name in the edge's state folder. */
export const CERTIFICATES_SNAPSHOT_FILE = 'certificates.json';

/** What reading found: the rows of one version, nothing yet, or a file that could not be used (and why). */
export type CertificateSnapshotRead =
  | { readonly kind: 'table'; readonly version: bigint; readonly certificates: readonly CertificateRow[]; readonly savedAt: Date }
  | { readonly kind: 'none' }
  | { readonly kind: 'unusable'; readonly reason: string };

/** The certificates snapshot at one path. */
export class CertificateSnapshot {
  constructor(readonly path: string) {}

  /** Reads the snapshot; never throws. Each row is checked again when the table is built from it. */
  async read(): Promise<CertificateSnapshotRead> {
    let value: unknown;
    try {
      value = JSON.parse(await readFile(this.path, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
      return { kind: 'unusable', reason: (err as Error).message };
    }
    const { format, version, savedAt, certificates } = (value ?? {}) as Record<string, unknown>;
    if (format !== FORMAT) return { kind: 'unusable', reason: `format ${JSON.stringify(format)} is not ${FORMAT}` };
    if (typeof version !== 'string' || !/^\d+$/.test(version)) return { kind: 'unusable', reason: 'version is not a whole number' };
    const at = new Date(typeof savedAt === 'string' ? savedAt : NaN);
    if (Number.isNaN(at.getTime())) return { kind: 'unusable', reason: 'savedAt is not a time' };
    if (!Array.isArray(certificates) || !certificates.every((r) => typeof r === 'object' && r !== null)) return { kind: 'unusable', reason: 'certificates is not an array of objects' };
    return { kind: 'table', version: BigInt(version), certificates: certificates as CertificateRow[], savedAt: at };
  }

  /** Replaces the snapshot atomically; rejects when the disk refuses. */
  async write(version: bigint, certificates: readonly CertificateRow[], now = new Date()): Promise<void> {
    await writePrivateFile(this.path, `${JSON.stringify({ format: FORMAT, version: String(version), savedAt: now.toISOString(), certificates })}\n`);
  }
}
