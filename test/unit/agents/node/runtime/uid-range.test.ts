import { describe, expect, it } from 'vitest';
import { UidAllocator, parseUidRange } from '../../../../../agents/node/runtime/uid-range.js';
import { liveUids } from '../../../../../agents/node/runtime/live-uids.js';

describe('parseUidRange', () => {
  it('reads FIRST-LAST and refuses ranges that would reach system accounts, nobody or past the last uid', () => {
    expect(parseUidRange('900000-999999')).toEqual({ first: 900_000, last: 999_999 });
    expect(() => parseUidRange('900000')).toThrow(/FIRST-LAST/);
    expect(() => parseUidRange('10-2000')).toThrow(/1000 or above/);
    expect(() => parseUidRange('2000-1000')).toThrow(/below the first/);
    expect(() => parseUidRange('60000-70000')).toThrow(/65534/);
    expect(() => parseUidRange('4294967000-4294967295')).toThrow(/4294967294/);
  });
});

describe('UidAllocator', () => {
  it('hands out each uid once, round robin, skipping reserved ones, and says when the range is used up', () => {
    const uids = new UidAllocator({ first: 5000, last: 5003 });
    expect(uids.reserve(5001)).toBe(true);
    expect(uids.reserve(5001)).toBe(false); // taken twice
    expect(uids.reserve(4999)).toBe(false); // outside
    expect([uids.allocate(), uids.allocate(), uids.allocate()]).toEqual([5000, 5002, 5003]);
    expect(() => uids.allocate()).toThrow(/no free instance uid left in 5000-5003/);
    uids.release(5002);
    uids.release(5000);
    // A uid given back is reused as late as possible: the search goes on from the last one handed out.
    expect(uids.allocate()).toBe(5000);
    expect(uids.allocate()).toBe(5002);
  });

  it('skips a uid some live process still runs as, and says so when only those are left', () => {
    const running = new Set([5000, 5002]);
    const uids = new UidAllocator({ first: 5000, last: 5003 }, () => running);
    expect([uids.allocate(), uids.allocate()]).toEqual([5001, 5003]);
    expect(() => uids.allocate()).toThrow(/no free instance uid left in 5000-5003 \(2 held by instances, others by processes still running\)/);
    running.delete(5002); // the leftover exited
    expect(uids.allocate()).toBe(5002);
  });
});

describe('liveUids', () => {
  it('lists the uids of running processes: this one\'s among them', () => {
    expect(liveUids().has(process.getuid!())).toBe(true);
  });
});
