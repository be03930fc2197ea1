import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../../../framework/testing/fake-clock.js';
import { RssMemoryGuard } from '../../../../../agents/node/runtime/rss-memory-guard.js';
import type { InstanceSpec } from '../../../../../agents/node/runtime/runtime.js';

const Mi = 2 ** 20;

/** A /proc with the given processes: stat for the tree, status for VmRSS. */
function fakeProc(processes: { pid: number; ppid: number; pgid: number; rssMi: number }[]): { proc: string; set: (pid: number, rssMi: number) => void; kill: (pid: number) => void } {
  const proc = mkdtempSync(join(tmpdir(), 'tend-proc-'));
  const set = (pid: number, rssMi: number): void => writeFileSync(join(proc, String(pid), 'status'), `Name:\tnode\nVmRSS:\t ${rssMi * 1024} kB\n`);
  for (const p of processes) {
    mkdirSync(join(proc, String(p.pid)));
    writeFileSync(join(proc, String(p.pid), 'stat'), `${p.pid} (node) S ${p.ppid} ${p.pgid} ${Array.from({ length: 16 }, () => 0).join(' ')} 1000 0 0\n`);
    set(p.pid, p.rssMi);
  }
  return { proc, set, kill: (pid) => rmSync(join(proc, String(pid)), { recursive: true }) };
}

const spec = (id: string, memoryMi: number): InstanceSpec => ({ id, command: ['x'], env: {}, port: 1, memoryBytes: memoryMi * Mi, cpuMillis: 0 });

describe('RssMemoryGuard', () => {
  it('kills an instance once the RSS of its whole process tree is over its limit, and says how much it used', () => {
    const clock = new FakeClock();
    const proc = fakeProc([
      { pid: 10, ppid: 1, pgid: 10, rssMi: 100 },
      { pid: 11, ppid: 10, pgid: 10, rssMi: 100 },
      { pid: 12, ppid: 1, pgid: 10, rssMi: 20 }, // re-parented, still in the group
      { pid: 20, ppid: 1, pgid: 20, rssMi: 500 }, // someone else
    ]);
    const guard = new RssMemoryGuard({ clock, intervalMs: 250, logger: pino({ level: 'silent' }), proc: proc.proc });
    const kills: string[] = [];

    const watch = guard.watch(spec('a', 256), 10, () => kills.push('a'));
    clock.advance(250);
    expect(kills).toEqual([]);
    expect(watch.oomKill()).toBeUndefined();

    proc.set(11, 180); // 100 + 180 + 20 = 300Mi
    clock.advance(249);
    expect(kills).toEqual([]);
    clock.advance(1);

    expect(kills).toEqual(['a']);
    expect(watch.oomKill()).toBe('used 300Mi of its 256Mi memory limit');
    clock.advance(1_000);
    expect(kills).toEqual(['a']); // once is enough
    expect(clock.pending()).toBe(0); // nothing left to watch, nothing polling
  });

  it('watches several instances with one timer and forgets a stopped watch', () => {
    const clock = new FakeClock();
    const proc = fakeProc([
      { pid: 10, ppid: 1, pgid: 10, rssMi: 50 },
      { pid: 20, ppid: 1, pgid: 20, rssMi: 50 },
    ]);
    const guard = new RssMemoryGuard({ clock, intervalMs: 100, logger: pino({ level: 'silent' }), proc: proc.proc });
    const kills: string[] = [];
    const a = guard.watch(spec('a', 64), 10, () => kills.push('a'));
    guard.watch(spec('b', 64), 20, () => kills.push('b'));
    expect(clock.pending()).toBe(1);

    a.stop();
    proc.set(10, 100);
    proc.set(20, 100);
    clock.advance(100);

    expect(kills).toEqual(['b']);
    guard.close();
    expect(clock.pending()).toBe(0);
  });

  it('counts a process that is gone as using nothing', () => {
    const clock = new FakeClock();
    const proc = fakeProc([{ pid: 10, ppid: 1, pgid: 10, rssMi: 500 }]);
    const guard = new RssMemoryGuard({ clock, intervalMs: 100, logger: pino({ level: 'silent' }), proc: proc.proc });
    const kills: string[] = [];
    guard.watch(spec('a', 64), 10, () => kills.push('a'));

    proc.kill(10);
    clock.advance(300);

    expect(kills).toEqual([]);
  });
});
