/**
 * The runtime's memory across agent restarts: one small JSON file per instance next to its log,
 * written whenever a process starts, so a new runtime can adopt what the last one left running
 * instead of starting it twice. The folder is the agent's alone (0700): records hold every
 * instance's environment, and the logs (`<id>.log`, rotated to `<id>.log.1` by instance-logs.ts)
 * are the agent's files, which the instance only holds open for appending.
 */
import { chmodSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
  /** The uid (and gid) a sandboxed instance runs as, kept across restarts and by a new runtime; absent: not sandboxed. */
  readonly uid?: number;
  /**
   * Its health check had passed when this was written (rewritten at every flip): a new runtime that
   * adopts it keeps it ready, so an agent restart does not take a healthy instance out of its routes;
   * it turns not ready only after failureThreshold failed probes, as a kubelet restart keeps readiness.
   */
  readonly ready?: boolean;
  /** The log's size when this process started: where its run's output begins (absent in older records). */
  readonly logOffset?: number;
}

const SUFFIX = '.instance.json';
const ENV_SUFFIX = '.env.sh';

/** A folder of instance records and logs. */
export class StateDir {
  constructor(readonly path: string) {
    // Specs carry env values (secrets): the folder and its files are the agent's alone, also
    // when someone made it before us with a wider mode.
    mkdirSync(path, { recursive: true, mode: 0o700 });
    chmodSync(path, 0o700);
    for (const name of readdirSync(path)) if (name.endsWith(ENV_SUFFIX)) rmSync(join(path, name), { force: true }); // left by a crash mid-start
  }

  /** Where the instance's stdout and stderr are appended. */
  logPath(id: string): string {
    return join(this.path, `${id}.log`);
  }

  /** Where the script with a sandboxed instance's environment is written for the moment of its start. */
  envScriptPath(id: string): string {
    return join(this.path, `${id}${ENV_SUFFIX}`);
  }

  /** Deletes an instance's log and its rotated copy (the instance is gone for good). */
  removeLogs(id: string): void {
    const log = this.logPath(id);
    rmSync(log, { force: true });
    rmSync(`${log}.1`, { force: true });
  }

  /** Replaces the record atomically: a crash mid-write leaves the old one, never half a file. */
  write(record: InstanceRecord): void {
    const file = join(this.path, `${record.id}${SUFFIX}`);
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    renameSync(temporary, file);
  }

  /** Deletes the record (the log goes with removeLogs). */
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
