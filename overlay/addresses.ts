/**
 * @module overlay/addresses
 * IPv6 arithmetic of the overlay's IPAM (migrations/000025_platform_overlay_ipam.sql allocates;
 * this is the same arithmetic, for checking a configured prefix and for tests): a cluster prefix
 * of /32–/56, a /64 per node numbered inside it, instance addresses inside a node's /64.
 * Addresses are 128-bit bigints. Pure.
 */

/** An IPv6 prefix: its first address and its length. */
export interface Ipv6Prefix {
  readonly network: bigint;
  readonly length: number;
}

/** Shortest and longest cluster prefix: a node's /64 needs at least 8 bits of node number. */
export const CLUSTER_PREFIX_LENGTHS = { min: 32, max: 56 } as const;

const ALL = (1n << 128n) - 1n;

/** The 128-bit value of an IPv6 address in text (RFC 4291 forms, no embedded IPv4); throws on anything else. */
export function parseIpv6(text: string): bigint {
  const halves = text.split('::');
  if (halves.length > 2 || text === '') throw new Error(`"${text}" is not an IPv6 address`);
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) throw new Error(`"${text}" is not an IPv6 address`);
  let value = 0n;
  for (const group of [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) throw new Error(`"${text}" is not an IPv6 address`);
    value = (value << 16n) | BigInt(`0x${group}`);
  }
  return value;
}

/** An IPv6 address in its canonical text (RFC 5952: lower case, the longest run of two or more zero groups as `::`). */
export function formatIpv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

/** `ADDRESS/LENGTH` as a prefix; throws when it is not IPv6 or has bits set past its length. */
export function parsePrefix(text: string): Ipv6Prefix {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not an IPv6 prefix (ADDRESS/LENGTH, e.g. fd12:3456:789a::/48)`);
  const length = Number(match[2]);
  if (length > 128) throw new Error(`"${text}": a prefix length is at most 128`);
  const network = parseIpv6(match[1]!);
  if ((network & hostMask(length)) !== 0n) throw new Error(`"${text}" has bits set past /${length}: did you mean ${formatPrefix({ network: network & ~hostMask(length) & ALL, length })}?`);
  return { network, length };
}

/** A prefix as `ADDRESS/LENGTH`. */
export function formatPrefix(prefix: Ipv6Prefix): string {
  return `${formatIpv6(prefix.network)}/${prefix.length}`;
}

/** The reason `text` cannot be the cluster prefix, or undefined when it can. */
export function clusterPrefixProblem(text: string): string | undefined {
  let prefix: Ipv6Prefix;
  try {
    prefix = parsePrefix(text);
  } catch (err) {
    return (err as Error).message;
  }
  const { min, max } = CLUSTER_PREFIX_LENGTHS;
  if (prefix.length < min || prefix.length > max) return `the overlay prefix ${text} must be /${min} to /${max}: each node takes a /64 inside it`;
  return undefined;
}

/** How many nodes a cluster prefix numbers (node 0 is not used: its /64 holds the cluster's own address space). */
export function nodeCapacity(cluster: Ipv6Prefix): bigint {
  return (1n << BigInt(64 - cluster.length)) - 1n;
}

/** The /64 of node number `index` (1 ≤ index ≤ nodeCapacity) inside `cluster`. */
export function nodePrefix(cluster: Ipv6Prefix, index: number): Ipv6Prefix {
  if (!Number.isInteger(index) || index < 1 || BigInt(index) > nodeCapacity(cluster)) throw new Error(`node number ${index} is outside ${formatPrefix(cluster)} (1 to ${nodeCapacity(cluster)})`);
  return { network: cluster.network | (BigInt(index) << 64n), length: 64 };
}

/** Whether `address` lies inside `prefix`. */
export function contains(prefix: Ipv6Prefix, address: bigint): boolean {
  return (address & ~hostMask(prefix.length) & ALL) === prefix.network;
}

function hostMask(length: number): bigint {
  return (1n << BigInt(128 - length)) - 1n;
}
