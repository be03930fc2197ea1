/**
 * How the runtime holds an instance to its memory limit. Two mechanisms behind one interface:
 * a cgroup v2 `memory.max` when this process may create child cgroups (the kernel enforces it),
 * else polling the RSS of each instance's process tree and SIGKILLing the group above the limit.
 * Which one runs is detected at startup, never assumed.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../../framework/index.js';
import { CgroupMemoryGuard, detectCgroupV2 } from './cgroup-memory-guard.js';
import type { InstanceSpec } from './runtime.js';
import { RssMemoryGuard } from './rss-memory-guard.js';

export type MemoryEnforcement = 'cgroup' | 'rss-polling';

/** Enforcement of one running process. */
export interface MemoryWatch {
  /** Why the process was killed for its memory, if it was (asked once it has exited). */
  oomKill(): string | undefined;
  /** Stops watching (the process exited, or the runtime is closing). */
  stop(): void;
}

export interface MemoryGuard {
  readonly mechanism: MemoryEnforcement;
  /** Sets the limits up for a process about to start; returns the argv that starts it inside them. */
  prepare(spec: InstanceSpec): readonly string[];
  /** Enforces on a running process, started or adopted; `kill` SIGKILLs its whole process group. */
  watch(spec: InstanceSpec, pid: number, kill: () => void): MemoryWatch;
  /** Frees what `prepare` made, once the instance is gone for good. */
  release(id: string): void;
  /** Stops every watch. */
  close(): void;
}

export interface MemoryGuardOptions {
  /** 'auto' picks cgroup when usable; 'cgroup' refuses to start without it. */
  readonly mode: 'auto' | MemoryEnforcement;
  readonly clock: Clock;
  readonly pollIntervalMs: number;
  readonly logger: Logger;
  /** The cgroup v2 directory instances' cgroups are created in. @default this process's own cgroup */
  readonly cgroupParent?: string;
}

/** The guard to use here, and why it was chosen (worth a log line: it changes what a limit means). */
export function createMemoryGuard(options: MemoryGuardOptions): { guard: MemoryGuard; reason: string } {
  const rss = (): MemoryGuard =>
    new RssMemoryGuard({ clock: options.clock, intervalMs: options.pollIntervalMs, logger: options.logger });
  if (options.mode === 'rss-polling') return { guard: rss(), reason: 'rss-polling was asked for' };
  const cgroup = detectCgroupV2(options.cgroupParent === undefined ? {} : { cgroupParent: options.cgroupParent });
  if (cgroup.usable) {
    return { guard: new CgroupMemoryGuard({ parent: cgroup.parent, cpu: cgroup.cpu, logger: options.logger }), reason: cgroup.reason };
  }
  if (options.mode === 'cgroup') throw new Error(`memory enforcement 'cgroup' is not possible here: ${cgroup.reason}`);
  return { guard: rss(), reason: cgroup.reason };
}

/** Bytes the way limits are written in specs: "256Mi", "1Gi", "1.5Mi". */
export function formatBytes(bytes: number): string {
  const gi = bytes / 2 ** 30;
  if (Number.isInteger(gi) && gi > 0) return `${gi}Gi`;
  const mi = bytes / 2 ** 20;
  return `${Number.isInteger(mi) ? mi : Number(mi.toFixed(1))}Mi`;
}
