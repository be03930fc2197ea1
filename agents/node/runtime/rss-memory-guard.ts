import type { Logger } from 'pino';
import type { Clock } from '../../../framework/index.js';
import { formatBytes, type MemoryGuard, type MemoryWatch } from './memory-guard.js';
import { processTree, readProcessTable, readRssBytes } from './procfs.js';
import type { InstanceSpec } from './runtime.js';

export interface RssMemoryGuardOptions {
  readonly clock: Clock;
  /** @default 250 */
  readonly intervalMs?: number;
  readonly logger: Logger;
  /** @default '/proc' */
  readonly proc?: string;
}

interface Watched {
  readonly id: string;
  readonly pid: number;
  readonly limit: number;
  readonly kill: () => void;
  oom: string | undefined;
}

/**
 * Memory limits without cgroups: every `intervalMs`, one pass over /proc sums the VmRSS of each
 * instance's process tree and SIGKILLs the group of any instance above its limit. Weaker than
 * a cgroup — an instance can overshoot between two polls, and page cache and kernel memory are not
 * counted — but it needs no privileges. One shared scan per tick keeps the cost flat in the
 * number of instances.
 */
export class RssMemoryGuard implements MemoryGuard {
  readonly mechanism = 'rss-polling';
  private readonly watched = new Set<Watched>();
  private cancelTimer: (() => void) | undefined;
  private readonly intervalMs: number;
  private readonly proc: string;

  constructor(private readonly options: RssMemoryGuardOptions) {
    this.intervalMs = options.intervalMs ?? 250;
    this.proc = options.proc ?? '/proc';
  }

  prepare(spec: InstanceSpec): readonly string[] {
    return spec.command;
  }

  watch(spec: InstanceSpec, pid: number, kill: () => void): MemoryWatch {
    const entry: Watched = { id: spec.id, pid, limit: spec.memoryBytes, kill, oom: undefined };
    this.watched.add(entry);
    if (!this.cancelTimer) this.schedule();
    return {
      oomKill: () => entry.oom,
      stop: () => {
        this.watched.delete(entry);
      },
    };
  }

  release(): void {}

  close(): void {
    this.watched.clear();
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private schedule(): void {
    this.cancelTimer = this.options.clock.setTimer(() => this.tick(), this.intervalMs);
  }

  private tick(): void {
    this.cancelTimer = undefined;
    if (this.watched.size === 0) return;
    try {
      const table = readProcessTable(this.proc);
      for (const entry of this.watched) {
        const used = processTree(entry.pid, table).reduce((sum, pid) => sum + (readRssBytes(pid, this.proc) ?? 0), 0);
        if (used <= entry.limit) continue;
        entry.oom = `used ${formatBytes(used)} of its ${formatBytes(entry.limit)} memory limit`;
        this.watched.delete(entry);
        this.options.logger.warn({ instance: entry.id, pid: entry.pid, usedBytes: used, limitBytes: entry.limit }, `instance ${entry.oom}: killing it`);
        entry.kill();
      }
    } catch (err) {
      this.options.logger.error({ err }, 'memory guard: reading /proc failed');
    }
    if (this.watched.size > 0) this.schedule();
  }
}
