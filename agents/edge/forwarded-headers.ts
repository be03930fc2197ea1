/**
 * The forwarding headers a backend sees: `X-Forwarded-For`, `X-Real-IP`, `Forwarded` (RFC 7239),
 * `X-Forwarded-Proto` and `X-Forwarded-Host`. The edge is the first hop that knows who connected,
 * so what a client sent in them is dropped and replaced — a client writing
 * `X-Forwarded-For: 10.0.0.1` must not look like an internal address to the App. Only when the
 * peer is a trusted proxy (`--trusted-proxies`, a load balancer in front of the edge) is the chain
 * it sent kept and extended, and the client is the nearest address in it that is not trusted
 * (nginx's `real_ip_recursive`, Envoy's `xff_num_trusted_hops` by address). Pure but for the
 * headers object it rewrites.
 */
import { BlockList, isIP } from 'node:net';

/** Thrown for a `--trusted-proxies` entry that is no address or CIDR block. */
export class TrustedProxiesError extends Error {
  override readonly name = 'TrustedProxiesError';
}

/** A set of addresses and CIDR blocks whose forwarding headers are believed. */
export class TrustedProxies {
  private constructor(
    private readonly list: BlockList,
    /** The entries as given, for logs. */
    readonly entries: readonly string[],
  ) {}

  /** Nobody is trusted: every request's forwarding headers are the edge's own. */
  static none(): TrustedProxies {
    return new TrustedProxies(new BlockList(), []);
  }

  /** Parses `10.0.0.0/8`, `192.0.2.7`, `::1`, `fd00::/8`… Throws naming the bad entry. */
  static parse(entries: readonly string[]): TrustedProxies {
    const list = new BlockList();
    for (const raw of entries) {
      const entry = raw.trim();
      const [address = '', bits, extra] = entry.split('/');
      const family = isIP(address);
      const max = family === 4 ? 32 : 128;
      const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
      if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
        throw new TrustedProxiesError(`trusted proxy "${raw}" is not an IPv4 or IPv6 address or CIDR block (like 10.0.0.0/8 or fd00::/8)`);
      }
      list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
    return new TrustedProxies(list, Object.freeze(entries.map((e) => e.trim())));
  }

  /** Whether `address` (IPv4, IPv6 or IPv4-mapped IPv6) is trusted; false for anything else. */
  has(address: string): boolean {
    const plain = unmapped(address);
    const family = isIP(plain);
    return family !== 0 && this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** Request headers as Node gives them (lower-case names). */
export type Headers = Record<string, string | string[] | undefined>;

/**
 * Rewrites the forwarding headers of a request that came from `peer` (the socket's remote
 * address) for `host` (its Host) over `scheme` (the edge's own connection: TLS or not). Returns
 * the protocol the client used: a trusted proxy's X-Forwarded-Proto, else `scheme`.
 */
export function setForwardedHeaders(headers: Headers, peer: string, host: string, trusted: TrustedProxies, scheme: 'http' | 'https' = 'http'): 'http' | 'https' {
  const client = unmapped(peer);
  if (trusted.has(client)) {
    const chain = [...listOf(headers['x-forwarded-for']), client];
    const said = one(headers['x-forwarded-proto']);
    const proto = said === 'https' || said === 'http' ? said : scheme;
    const priorForwarded = headers.forwarded === undefined ? [] : [headers.forwarded].flat();
    const priorHost = one(headers['x-forwarded-host']);
    headers['x-forwarded-for'] = chain.join(', ');
    headers['x-real-ip'] = [...chain].reverse().find((a) => !trusted.has(a)) ?? chain[0]!;
    headers['x-forwarded-proto'] = proto;
    headers['x-forwarded-host'] = priorHost ?? host;
    headers.forwarded = [...priorForwarded, forwardedElement(client, host, scheme)].join(', ');
    return proto;
  }
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-forwarded-') || name === 'forwarded' || name === 'x-real-ip') delete headers[name];
  }
  headers['x-forwarded-for'] = client;
  headers['x-real-ip'] = client;
  headers['x-forwarded-proto'] = scheme;
  headers['x-forwarded-host'] = host;
  headers.forwarded = forwardedElement(client, host, scheme);
  return scheme;
}

/** `for="[::1]";host=…;proto=http`: IPv6 in quoted brackets, anything but a token quoted (RFC 7239 §4, §6). */
function forwardedElement(client: string, host: string, scheme: 'http' | 'https'): string {
  const node = isIP(client) === 6 ? `"[${client}]"` : token(client);
  return `for=${node};host=${token(host)};proto=${scheme}`;
}

function token(value: string): string {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function listOf(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
