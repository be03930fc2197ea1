import { describe, expect, it } from 'vitest';
import { rendezvousOwner } from '../../../../framework/coordination/rendezvous.js';

const keys = Array.from({ length: 10_000 }, (_, i) => `tenant\u0000tenant-${i}`);

function shares(members: bigint[]): Map<bigint, number> {
  const counts = new Map<bigint, number>();
  for (const key of keys) {
    const owner = rendezvousOwner(members, key)!;
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return counts;
}

describe('rendezvousOwner', () => {
  it('gives each of three members about a third of the keys', () => {
    const counts = shares([11n, 12n, 13n]);
    for (const count of counts.values()) expect(Math.abs(count / keys.length - 1 / 3)).toBeLessThan(0.03);
  });

  it('moves only about a quarter of the keys when a fourth member joins, all to the newcomer', () => {
    const before = keys.map((k) => rendezvousOwner([11n, 12n, 13n], k));
    const after = keys.map((k) => rendezvousOwner([11n, 12n, 13n, 14n], k));
    const moved = after.filter((owner, i) => owner !== before[i]);
    expect(moved.every((owner) => owner === 14n)).toBe(true);
    expect(Math.abs(moved.length / keys.length - 0.25)).toBeLessThan(0.03);
  });

  it('hands a departed member\'s keys to the others and leaves theirs in place', () => {
    const before = keys.map((k) => rendezvousOwner([11n, 12n, 13n], k));
    const after = keys.map((k) => rendezvousOwner([11n, 13n], k));
    keys.forEach((_, i) => {
      if (before[i] !== 12n) expect(after[i]).toBe(before[i]);
    });
  });

  it('answers the same on every replica, whatever the order of the member list', () => {
    for (const key of keys.slice(0, 500)) expect(rendezvousOwner([13n, 11n, 12n], key)).toBe(rendezvousOwner([11n, 12n, 13n], key));
  });

  it('has no owner without members', () => {
    expect(rendezvousOwner([], 'x')).toBeUndefined();
  });
});
