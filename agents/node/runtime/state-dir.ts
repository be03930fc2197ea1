/**
 * The runtime's memory across agent restarts: one small JSON file per instance next to its log,
 * written whenever a process starts, so a new runtime can adopt what the last one left running
 * instead of starting it twice.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceSpec } from './runtime.js';

/** What a state file holds about the last process of one instance. */
export interface InstanceRecord {
  readonly version: 1;
  readonly id: string;
  readonly pid: number;
  /** /proc/<pid>/stat field 22, so a reused pid is never mistaken for ours. */
  readonly startTime: number;
  readonly specHash: string;
  readonly port: number;
  readonly restarts: number;
  /** RFC 3339. */
  readonly startedAt: string;
  /** The whole spec, so an adopted instance keeps its health check, memory limit and restarts. */
  readonly spec: InstanceSpec;
}

const SUFFIX = '.instance.json';

/** A folder of instance records and logs. */
export class StateDir {
  constructor(readonly path: string) {
    // Specs carry env values (secrets): the folder and its files are the agent's alone.
    mkdirSync(path, { recursive: true, mode: 0o700 });
  }

  /** Where the instance's stdout and stderr are appended. */
  logPath(id: string): string {
    return join(this.path, `${id}.log`);
  }

  /** Replaces the record atomically: a crash mid-write leaves the old one, never half a file. */
  write(record: InstanceRecord): void {
    const file = join(this.path, `${record.id}${SUFFIX}`);
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    renameSync(temporary, file);
  }

  /** Deletes the record (not the log: logs outlive instances until the agent rotates them). */
  remove(id: string): void {
    rmSync(join(this.path, `${id}${SUFFIX}`), { force: true });
  }

  /** Every readable record, and the files that could not be read with why. */
  readAll(): { records: InstanceRecord[]; unreadable: { file: string; error: string }[] } {
    const records: InstanceRecord[] = [];
    const unreadable: { file: string; error: string }[] = [];
    for (const name of readdirSync(this.path).sort()) {
      if (!name.endsWith(SUFFIX)) continue;
      const file = join(this.path, name);
      try {
        const record = JSON.parse(readFileSync(file, 'utf8')) as InstanceRecord;
        if (record.version !== 1 || `${record.id}${SUFFIX}` !== name || !Number.isInteger(record.pid) || !record.spec) {
          throw new Error('not an instance record of version 1');
        }
        records.push(record);
      } catch (err) {
        unreadable.push({ file, error: (err as Error).message });
      }
    }
    return { records, unreadable };
  }
}
