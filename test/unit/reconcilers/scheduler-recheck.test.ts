import { describe, expect, it } from 'vitest';
import { confirmPlacements, type LockedNode } from '../../../reconcilers/scheduler-recheck.js';

const Mi = 2 ** 20;
const size = { memory: 512 * Mi, cpu: 250 };
const planned = (...nodes: string[]) => nodes.map((node) => ({ app: 'acme/web', node }));
const unlimited = { memoryUsed: 0, cpuUsed: 0, instancesUsed: 0 };

/** A node, re-read under its lock, with room for `fits` instances of `size`. */
function locked(name: string, fits: number, extra: Partial<LockedNode> = {}): LockedNode {
  return { name, allocatableMemory: 8192 * Mi, allocatableCpu: 8_000, allocatedMemory: 8192 * Mi - fits * 512 * Mi, allocatedCpu: 0, allocatedInstances: 0, ...extra };
}

describe('confirmPlacements', () => {
  it('keeps every planned instance that still fits its node', () => {
    expect(confirmPlacements(planned('a', 'a', 'b'), [locked('a', 4), locked('b', 1)], size, unlimited)).toEqual(['a', 'a', 'b']);
  });

  it('keeps only what fits now on a node another replica filled meanwhile', () => {
    expect(confirmPlacements(planned('a', 'a', 'a'), [locked('a', 1)], size, unlimited)).toEqual(['a']);
    expect(confirmPlacements(planned('a'), [locked('a', 4, { allocatedCpu: 7_900 })], size, unlimited)).toEqual([]);
    expect(confirmPlacements(planned('a', 'a'), [locked('a', 4, { maxInstances: 5, allocatedInstances: 4 })], size, unlimited)).toEqual(['a']);
  });

  it('holds the tenant to its hard memory and instance quotas as re-read under its lock', () => {
    const three = planned('a', 'a', 'a');
    expect(confirmPlacements(three, [locked('a', 8)], size, { ...unlimited, memoryLimit: 1536 * Mi, memoryUsed: 1024 * Mi })).toEqual(['a']);
    expect(confirmPlacements(three, [locked('a', 8)], size, { ...unlimited, instancesLimit: 5, instancesUsed: 3 })).toEqual(['a', 'a']);
    expect(confirmPlacements(three, [locked('a', 8)], size, { ...unlimited, instancesLimit: 2, instancesUsed: 3 })).toEqual([]);
  });

  it('gives a node the filter refuses nothing (an App with Secrets, a node without a sealing key)', () => {
    expect(confirmPlacements(planned('a', 'b'), [locked('a', 4), locked('b', 4)], size, unlimited, (n) => n === 'b')).toEqual(['b']);
  });
});
