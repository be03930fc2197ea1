/**
 * The edge's copy on disk of the last routing table it read from PostgreSQL, so that an edge
 * (re)started while PostgreSQL is unreachable still serves (issue 14 §3: the control plane can be
 * down; traffic cannot). It holds the rows exactly as read, and the rows list healthy backends
 * only (the Route controller writes no others), so a snapshot never routes to a backend that was
 * unhealthy when it was written; the table built from it checks every row again.
 *
 * Written atomically: a temporary file beside it (mode 0600, flushed to disk), then one rename,
 * so a reader, or an edge killed mid-write, sees the old snapshot or the new one, never half.
 */
import { readFile } from 'node:fs/promises';
import { writePrivateFile } from './private-file.js';
import type { RoutingRow } from './routing-table.js';

/** The snapshot's layout; a file of another format is not read. */
const FORMAT = 'tend.dev/routing-snapshot/v1';

/** The snapshot file's name in the edge's state folder. */
export const SNAPSHOT_FILE = 'routing.json';

/** One table as saved: its version, the rows as PostgreSQL gave them, and when it was written. */
export interface SavedTable {
  readonly version: bigint;
  readonly routes: readonly RoutingRow[];
  readonly savedAt: Date;
}

/** What reading found: a table, nothing yet, or a file that could not be used (and why). */
export type SnapshotRead =
  | { readonly kind: 'table'; readonly table: SavedTable }
  | { readonly kind: 'none' }
  | { readonly kind: 'unusable'; readonly reason: string };

/** The snapshot at one path. */
export class RoutingSnapshot {
  constructor(readonly path: string) {}

  /** Reads the snapshot; never throws. */
  async read(): Promise<SnapshotRead> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
      return { kind: 'unusable', reason: (err as Error).message };
    }
    return parseSnapshot(text);
  }

  /** Replaces the snapshot with `version` and `routes` atomically; rejects when the disk refuses. */
  async write(version: bigint, routes: readonly RoutingRow[], now = new Date()): Promise<void> {
    await writePrivateFile(this.path, `${JSON.stringify({ format: FORMAT, version: String(version), savedAt: now.toISOString(), routes })}\n`);
  }
}

/** Parses a snapshot file's text. Pure; exported for the unit tests. */
export function parseSnapshot(text: string): SnapshotRead {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { kind: 'unusable', reason: `not JSON (${(err as Error).message})` };
  }
  if (typeof value !== 'object' || value === null) return { kind: 'unusable', reason: 'not a JSON object' };
  const { format, version, savedAt, routes } = value as Record<string, unknown>;
  if (format !== FORMAT) return { kind: 'unusable', reason: `format ${JSON.stringify(format)} is not ${FORMAT}` };
  if (typeof version !== 'string' || !/^\d+$/.test(version)) return { kind: 'unusable', reason: 'version is not a whole number' };
  const at = typeof savedAt === 'string' ? new Date(savedAt) : new Date(NaN);
  if (Number.isNaN(at.getTime())) return { kind: 'unusable', reason: 'savedAt is not a time' };
  if (!Array.isArray(routes) || !routes.every((r) => typeof r === 'object' && r !== null && !Array.isArray(r))) {
    return { kind: 'unusable', reason: 'routes is not an array of objects' };
  }
  // Each row is checked again when the table is built from it (RoutingTable.build).
  return { kind: 'table', table: { version: BigInt(version), routes: routes as RoutingRow[], savedAt: at } };
}
