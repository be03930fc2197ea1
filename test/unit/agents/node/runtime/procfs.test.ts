import { describe, expect, it } from 'vitest';
import { isSameLiveProcess, parseProcStat, processTree, readProcStat, readRssBytes, type ProcStat } from '../../../../../agents/node/runtime/procfs.js';

/** A stat line with `comm` and fields 3.. as given; field 22 (start time) is the 20th after the name. */
function statLine(pid: number, comm: string, state: string, ppid: number, pgid: number, startTime: number): string {
  const rest = [state, ppid, pgid, ...Array.from({ length: 16 }, () => 0), startTime, 0, 0];
  return `${pid} (${comm}) ${rest.join(' ')}\n`;
}

describe('parseProcStat', () => {
  it('reads state, parent, group and start time even when the command name holds spaces and parentheses', () => {
    expect(parseProcStat(statLine(42, 'my (odd) name', 'S', 1, 42, 123_456))).toEqual({ pid: 42, state: 'S', ppid: 1, pgid: 42, startTime: 123_456 });
  });

  it('returns undefined for text that is not a stat line', () => {
    expect(parseProcStat('garbage')).toBeUndefined();
  });
});

describe('this process in /proc', () => {
  it('is the same live process only with its own start time', () => {
    const self = readProcStat(process.pid);
    expect(self?.ppid).toBe(process.ppid);
    expect(isSameLiveProcess(process.pid, self!.startTime)).toBe(true);
    expect(isSameLiveProcess(process.pid, self!.startTime + 1)).toBe(false);
    expect(readRssBytes(process.pid)).toBeGreaterThan(1_000_000);
  });
});

describe('processTree', () => {
  it('holds the root, its descendants and the members of its group that were re-parented, and nothing else', () => {
    const table = new Map<number, ProcStat>(
      [
        { pid: 1, ppid: 0, pgid: 1 },
        { pid: 10, ppid: 1, pgid: 10 }, // the instance
        { pid: 11, ppid: 10, pgid: 10 }, // its child
        { pid: 12, ppid: 11, pgid: 12 }, // a grandchild in a group of its own
        { pid: 13, ppid: 1, pgid: 10 }, // orphaned member of the instance's group
        { pid: 20, ppid: 1, pgid: 20 }, // another instance
      ].map((p) => [p.pid, { ...p, state: 'S', startTime: 0 }]),
    );
    expect(processTree(10, table).sort((a, b) => a - b)).toEqual([10, 11, 12, 13]);
    expect(processTree(99, table)).toEqual([]);
  });
});
