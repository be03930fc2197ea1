/**
 * Rendezvous (highest-random-weight) hashing: a key belongs to the member with the highest
 * hash(member, key). Every replica computes the same owner from the same member list with no
 * communication, and a membership change moves only the keys of the member that came or went.
 */

/** 32-bit FNV-1a of `text`, finished with murmur3's fmix32 so nearby inputs spread evenly. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The member among `members` that owns `item`; undefined when there are none. Ties go to the lowest id. */
export function rendezvousOwner(members: readonly bigint[], item: string): bigint | undefined {
  let best: bigint | undefined;
  let bestWeight = -1;
  for (const member of members) {
    const weight = hash32(`${member}\u0000${item}`);
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && member < best)) {
      best = member;
      bestWeight = weight;
    }
  }
  return best;
}
