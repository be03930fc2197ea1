import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CgroupMemoryGuard, cpuWeight, detectCgroupV2 } from '../../../../../agents/node/runtime/cgroup-memory-guard.js';
import type { InstanceSpec } from '../../../../../agents/node/runtime/runtime.js';

const spec: InstanceSpec = { id: 'acme.web-1', command: ['sh', '-c', 'echo started as $$'], env: {}, port: 1, memoryBytes: 256 * 2 ** 20, cpuMillis: 500 };

/** A /proc/self with the given mountinfo and cgroup files. */
function fakeProc(mountinfo: string, cgroup: string): string {
  const proc = mkdtempSync(join(tmpdir(), 'tend-proc-'));
  mkdirSync(join(proc, 'self'));
  writeFileSync(join(proc, 'self', 'mountinfo'), mountinfo);
  writeFileSync(join(proc, 'self', 'cgroup'), cgroup);
  return proc;
}

describe('detectCgroupV2', () => {
  it('says so when no cgroup2 file system is mounted', () => {
    const proc = fakeProc('25 1 0:22 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n', '4:memory:/x\n');
    expect(detectCgroupV2({ proc })).toEqual({ usable: false, reason: 'no cgroup2 file system is mounted' });
  });

  it('says so when the memory controller belongs to cgroup v1 (a hybrid host)', () => {
    const mount = mkdtempSync(join(tmpdir(), 'tend-cgroup2-'));
    writeFileSync(join(mount, 'cgroup.controllers'), 'hugetlb\n');
    writeFileSync(join(mount, 'cgroup.subtree_control'), '\n');
    const proc = fakeProc(`30 1 0:26 / ${mount} rw - cgroup2 cgroup2 rw\n`, '4:memory:/x\n0::/\n');

    const detection = detectCgroupV2({ proc });

    expect(detection).toEqual({ usable: false, reason: expect.stringMatching(/memory controller is not available in .*hugetlb/) });
  });

  it('says so when a cgroup made in the parent gets no memory.max', () => {
    const parent = mkdtempSync(join(tmpdir(), 'tend-cgroup2-'));
    writeFileSync(join(parent, 'cgroup.controllers'), 'cpu memory\n');
    writeFileSync(join(parent, 'cgroup.subtree_control'), 'cpu memory\n');
    expect(detectCgroupV2({ cgroupParent: parent })).toEqual({ usable: false, reason: expect.stringMatching(/gets no memory\.max/) });
  });
});

describe('cpuWeight', () => {
  it('converts millicores the way the kubelet does', () => {
    expect([cpuWeight(0), cpuWeight(100), cpuWeight(1000), cpuWeight(256_000)]).toEqual([1, 4, 39, 10_000]);
  });
});

describe('CgroupMemoryGuard', () => {
  it('writes the limits into the instance cgroup and starts the command inside it, keeping its pid', () => {
    const parent = mkdtempSync(join(tmpdir(), 'tend-cgroup2-'));
    const guard = new CgroupMemoryGuard({ parent, cpu: true, logger: pino({ level: 'silent' }) });

    const argv = guard.prepare(spec);
    const output = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });

    const dir = join(parent, 'tend-acme.web-1');
    expect(readFileSync(join(dir, 'memory.max'), 'utf8')).toBe(String(256 * 2 ** 20));
    expect(readFileSync(join(dir, 'cpu.weight'), 'utf8')).toBe('20');
    expect(readFileSync(join(dir, 'cgroup.procs'), 'utf8')).toBe('0\n'); // "0" moves the writer itself
    expect(output).toMatch(/^started as \d+\n$/);
  });

  it('reports an OOM kill only when memory.events counted one after the process started', () => {
    const parent = mkdtempSync(join(tmpdir(), 'tend-cgroup2-'));
    const guard = new CgroupMemoryGuard({ parent, cpu: false, logger: pino({ level: 'silent' }) });
    mkdirSync(join(parent, 'tend-acme.web-1'));
    const events = join(parent, 'tend-acme.web-1', 'memory.events');
    writeFileSync(events, 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');

    guard.prepare(spec);
    const watch = guard.watch(spec, 4242, () => {});
    expect(watch.oomKill()).toBeUndefined();
    writeFileSync(events, 'low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\n');

    expect(watch.oomKill()).toBe('killed by the kernel at its 256Mi memory limit (cgroup memory.max)');
  });
});
