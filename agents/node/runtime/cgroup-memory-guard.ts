import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { formatBytes, type MemoryGuard, type MemoryWatch } from './memory-guard.js';
import type { InstanceSpec } from './runtime.js';

/** Whether instances can get their own cgroup v2 with a memory limit, and why (not). */
export type CgroupDetection =
  | { readonly usable: true; readonly parent: string; readonly cpu: boolean; readonly reason: string }
  | { readonly usable: false; readonly reason: string };

export interface DetectCgroupOptions {
  /** @default this process's own cgroup */
  readonly cgroupParent?: string;
  /** Where /proc/self/mountinfo and /proc/self/cgroup are read from. @default '/proc' */
  readonly proc?: string;
}

/**
 * Finds out, by trying, whether this process can make child cgroups with `memory.max`: a cgroup2
 * mount, the memory controller enabled for the parent's children (enabling it if the parent offers
 * it — fails harmlessly where processes live in the parent), and a probe cgroup that really gets
 * a `memory.max` file.
 */
export function detectCgroupV2(options: DetectCgroupOptions = {}): CgroupDetection {
  const proc = options.proc ?? '/proc';
  try {
    let parent = options.cgroupParent;
    if (parent === undefined) {
      const mount = readFileSync(`${proc}/self/mountinfo`, 'utf8')
        .split('\n')
        .map((line) => line.split(' '))
        .find((fields) => fields[fields.indexOf('-') + 1] === 'cgroup2')?.[4];
      if (mount === undefined) return { usable: false, reason: 'no cgroup2 file system is mounted' };
      const own = /^0::(.*)$/m.exec(readFileSync(`${proc}/self/cgroup`, 'utf8'))?.[1];
      if (own === undefined) return { usable: false, reason: `${proc}/self/cgroup names no cgroup v2 path` };
      parent = join(mount, own);
    }
    const available = words(join(parent, 'cgroup.controllers'));
    if (!available.includes('memory')) {
      return { usable: false, reason: `the memory controller is not available in ${parent} (cgroup.controllers: "${available.join(' ')}"; on a hybrid host it belongs to cgroup v1)` };
    }
    const subtree = join(parent, 'cgroup.subtree_control');
    for (const controller of ['memory', 'cpu']) {
      if (available.includes(controller) && !words(subtree).includes(controller)) {
        try {
          writeFileSync(subtree, `+${controller}`);
        } catch (err) {
          if (controller === 'memory') return { usable: false, reason: `cannot enable the memory controller in ${subtree}: ${(err as Error).message}` };
        }
      }
    }
    const probe = join(parent, `tend-probe-${process.pid}`);
    mkdirSync(probe, { recursive: true });
    try {
      if (!existsSync(join(probe, 'memory.max'))) return { usable: false, reason: `a cgroup made in ${parent} gets no memory.max` };
    } finally {
      rmdirSync(probe);
    }
    const cpu = words(subtree).includes('cpu');
    return { usable: true, parent, cpu, reason: `instances get a child cgroup of ${parent} with memory.max${cpu ? ' and cpu.weight' : ''}` };
  } catch (err) {
    return { usable: false, reason: `cgroup v2 is not usable: ${(err as Error).message}` };
  }
}

/** kubelet's millicores → cgroup v2 cpu.weight: shares = m·1024/1000, weight = 1 + (shares−2)·9999/262142. */
export function cpuWeight(cpuMillis: number): number {
  const shares = Math.max(2, Math.min(262_144, Math.floor((cpuMillis * 1024) / 1000)));
  return 1 + Math.floor(((shares - 2) * 9999) / 262_142);
}

export interface CgroupMemoryGuardOptions {
  readonly parent: string;
  /** Whether the cpu controller is enabled for children, so cpuMillis becomes cpu.weight. */
  readonly cpu: boolean;
  readonly logger: Logger;
}

/**
 * One cgroup per instance, `<parent>/tend-<id>`, with memory.max (the kernel enforces it),
 * memory.oom.group (an OOM kills the whole instance, as the kubelet does) and cpu.weight. The
 * process joins its cgroup before exec through a `sh` wrapper that `exec`s the command, so the
 * pid stays the instance's and every descendant is inside from the first instruction.
 * Not exercised by the test suite on hosts without a delegated cgroup v2 memory controller.
 */
export class CgroupMemoryGuard implements MemoryGuard {
  readonly mechanism = 'cgroup';
  /** oom_kill count when the current process started; absent for adopted ones (counted from adoption). */
  private readonly baseline = new Map<string, number>();

  constructor(private readonly options: CgroupMemoryGuardOptions) {}

  prepare(spec: InstanceSpec): readonly string[] {
    const dir = this.dir(spec.id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'memory.max'), String(spec.memoryBytes));
    writeIfPresent(join(dir, 'memory.swap.max'), '0');
    writeIfPresent(join(dir, 'memory.oom.group'), '1');
    if (this.options.cpu) writeFileSync(join(dir, 'cpu.weight'), String(cpuWeight(spec.cpuMillis)));
    this.baseline.set(spec.id, oomKills(dir));
    return ['/bin/sh', '-c', 'echo 0 > "$0" && exec "$@"', join(dir, 'cgroup.procs'), ...spec.command];
  }

  watch(spec: InstanceSpec, _pid: number, _kill: () => void): MemoryWatch {
    const dir = this.dir(spec.id);
    const before = this.baseline.get(spec.id) ?? oomKills(dir);
    this.baseline.delete(spec.id);
    return {
      oomKill: () => (oomKills(dir) > before ? `killed by the kernel at its ${formatBytes(spec.memoryBytes)} memory limit (cgroup memory.max)` : undefined),
      stop: () => {},
    };
  }

  release(id: string): void {
    const dir = this.dir(id);
    try {
      // Stragglers that left the process group are still in the cgroup: kill them, then remove it.
      writeIfPresent(join(dir, 'cgroup.kill'), '1');
      if (existsSync(dir)) rmdirSync(dir);
    } catch (err) {
      this.options.logger.warn({ err, cgroup: dir }, 'could not remove an instance cgroup');
    }
  }

  close(): void {}

  private dir(id: string): string {
    return join(this.options.parent, `tend-${id}`);
  }
}

function words(file: string): string[] {
  return readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean);
}

function writeIfPresent(file: string, value: string): void {
  if (existsSync(file)) writeFileSync(file, value);
}

function oomKills(dir: string): number {
  try {
    return Number(/^oom_kill (\d+)$/m.exec(readFileSync(join(dir, 'memory.events'), 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}
