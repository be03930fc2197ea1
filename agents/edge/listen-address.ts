/** `HOST:PORT` as the edge's `--listen` and `--admin-listen` flags take it. Pure. */

/** An interface and TCP port to listen on; port 0 picks a free one. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `127.0.0.1:8080`, `[::1]:8080`, `:8080` (every IPv4 interface: `0.0.0.0`) or
 * `0.0.0.0:0`. Throws a `TypeError` that quotes the text otherwise.
 */
export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65_535) {
    throw new TypeError(`listen address must be HOST:PORT, [IPv6]:PORT or :PORT with a port from 0 to 65535, got "${text}"`);
  }
  const host = match[1] ?? (match[2] || '0.0.0.0');
  return { host, port };
}

/** `http://host:port` (or `https://…`) for messages and logs; IPv6 in brackets. */
export function formatListenAddress(address: ListenAddress, scheme: 'http' | 'https' = 'http'): string {
  return `${scheme}://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}
