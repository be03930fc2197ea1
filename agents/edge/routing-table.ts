/**
 * The edge's routing table: an immutable snapshot of `platform.routing` at one version, and the
 * rule that picks a route for a request. Pure: no I/O, no clock, so every matching case is a unit
 * test. The loader builds a new table on every change and swaps it in one assignment, so a
 * request sees the old table or the new one, never a mix.
 *
 * Matching follows the Kubernetes Gateway API (HTTPRoute hostnames and PathPrefix):
 * - The host is compared case-insensitively, without its port and without a trailing dot.
 * - `*.example.com` matches one or more labels in front of `example.com`: `a.example.com` and
 *   `a.b.example.com`, never `example.com` itself.
 * - A request matches a row when both its host and its path match; among the matches the exact
 *   host wins, then the wildcard with the longest suffix, then the longest path prefix. So a host
 *   whose own rows have no matching prefix falls through to a wildcard that has one.
 * - Prefixes are segment-aware and case-sensitive: `/api` matches `/api`, `/api/` and `/api/x`,
 *   never `/apix`; a trailing slash in the prefix is ignored (`/api/` ≡ `/api`); `/` matches all.
 */

/** One place a route's traffic may go: a healthy instance's address. */
export interface Backend {
  readonly address: string;
  readonly port: number;
  readonly instance: string;
}

/** One row of the table, normalised: where a host and path prefix go. */
export interface RouteEntry {
  /** Lower case; `*.` in front for a wildcard. */
  readonly host: string;
  /** Starts with `/`; no trailing slash unless it is `/`. */
  readonly pathPrefix: string;
  /** `namespace/name` of the Route, for logs, metrics and error pages. */
  readonly route: string;
  /** Healthy backends only; empty when none is (the edge answers 503). */
  readonly backends: readonly Backend[];
  /** The tenant is suspended: the edge answers 503 "service suspended" (absent: false). */
  readonly suspended?: true;
  /** Plain HTTP requests get 308 to https (absent: false). */
  readonly httpsRedirect?: true;
  /** The Route's limit over all edges together (`route-limiter.ts`); absent: unlimited. */
  readonly rateLimit?: RateLimit;
}

/** A token bucket shared by all edges: the steady rate and the bucket's size. */
export interface RateLimit {
  readonly requestsPerSecond: number;
  readonly burst: number;
}

/** A row as PostgreSQL gives it (the loader's query), not yet checked. */
export interface RoutingRow {
  readonly host: unknown;
  readonly pathPrefix: unknown;
  readonly route: unknown;
  readonly backends: unknown;
  readonly suspended?: unknown;
  readonly httpsRedirect?: unknown;
  readonly rateLimit?: unknown;
}

/** Why a request found no route: the 404 page says which. */
export type RouteMatch =
  | { readonly kind: 'route'; readonly entry: RouteEntry }
  | { readonly kind: 'no-host'; readonly host: string }
  | { readonly kind: 'no-path'; readonly host: string; readonly path: string };

// RFC 1123 labels, as the Route schema allows; a wildcard is `*.` in front of at least one label.
const LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
const HOST = new RegExp(`^(\\*\\.)?${LABEL}(\\.${LABEL})*$`);

/** An immutable routing table at one `platform.routing_version`. */
export class RoutingTable {
  /** Exact host → its rows, longest prefix first. */
  private readonly exact: ReadonlyMap<string, readonly RouteEntry[]>;
  /** Wildcard suffix (`example.com` for `*.example.com`) → its rows, longest prefix first. */
  private readonly wildcard: ReadonlyMap<string, readonly RouteEntry[]>;

  private constructor(
    /** The `platform.routing_version` this snapshot was read at; -1 before the first load. */
    readonly version: bigint,
    /** Every accepted row, sorted by host then prefix (for `tend` output and tests). */
    readonly entries: readonly RouteEntry[],
    /** Rows that were skipped, with the reason: a bad row must not take the other routes down. */
    readonly problems: readonly string[],
  ) {
    const exact = new Map<string, RouteEntry[]>();
    const wildcard = new Map<string, RouteEntry[]>();
    for (const entry of entries) {
      const [map, key] = entry.host.startsWith('*.') ? [wildcard, entry.host.slice(2)] : [exact, entry.host];
      const list = map.get(key) ?? [];
      list.push(entry);
      map.set(key, list);
    }
    for (const list of [...exact.values(), ...wildcard.values()]) {
      list.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length);
      Object.freeze(list);
    }
    this.exact = exact;
    this.wildcard = wildcard;
    Object.freeze(this);
  }

  /** The table before anything was loaded: every request is a 404. */
  static empty(): RoutingTable {
    return new RoutingTable(-1n, [], []);
  }

  /**
   * Builds a table from the rows of one read. Rows that break the table's rules (a host that is
   * no DNS name, a prefix without a leading `/`, malformed backends, a duplicate after
   * normalisation) are left out and listed in `problems`; the others are served.
   */
  static build(version: bigint, rows: readonly RoutingRow[]): RoutingTable {
    const problems: string[] = [];
    const seen = new Map<string, string>();
    const entries: RouteEntry[] = [];
    // Sorted first so that which of two duplicates wins does not depend on the row order.
    const sorted = [...rows].sort((a, b) => String(a.route).localeCompare(String(b.route)));
    for (const row of sorted) {
      const entry = normaliseRow(row);
      if (typeof entry === 'string') {
        problems.push(entry);
        continue;
      }
      const key = `${entry.host} ${entry.pathPrefix}`;
      const holder = seen.get(key);
      if (holder !== undefined) {
        problems.push(`route ${entry.route}: ${entry.host}${entry.pathPrefix} is already served by route ${holder}`);
        continue;
      }
      seen.set(key, entry.route);
      entries.push(entry);
    }
    entries.sort((a, b) => a.host.localeCompare(b.host) || a.pathPrefix.localeCompare(b.pathPrefix));
    return new RoutingTable(version, Object.freeze(entries), Object.freeze(problems));
  }

  /**
   * The route for a request's `Host` header and target (path, with or without a query). The
   * `Host` may carry a port and any letter case; the target may be absolute (`http://h/p`).
   */
  match(hostHeader: string, target: string): RouteMatch {
    const host = normaliseHost(hostHeader);
    const path = pathOf(target);
    const exact = this.exact.get(host);
    const found = exact && longestPrefix(exact, path);
    if (found) return { kind: 'route', entry: found };
    let hostKnown = exact !== undefined;
    // Suffixes after each dot, longest first: a.b.example.com → b.example.com, example.com, com.
    for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
      const rows = this.wildcard.get(host.slice(dot + 1));
      if (!rows) continue;
      hostKnown = true;
      const entry = longestPrefix(rows, path);
      if (entry) return { kind: 'route', entry };
    }
    return hostKnown ? { kind: 'no-path', host, path } : { kind: 'no-host', host };
  }
}

/**
 * A `Host` header as the table compares it: lower case, without the port and without a trailing
 * dot. `[::1]:8080` → `[::1]`.
 */
export function normaliseHost(hostHeader: string): string {
  let host = hostHeader.trim().toLowerCase();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    host = end === -1 ? host : host.slice(0, end + 1);
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) host = host.slice(0, colon);
  }
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/** The path of a request target: the query and fragment cut off; an absolute URL's path. */
export function pathOf(target: string): string {
  let path = target;
  if (!path.startsWith('/')) {
    // Absolute form (`GET http://host/p HTTP/1.1`, RFC 9112 §3.2.2): keep what follows the authority.
    const scheme = path.indexOf('://');
    const slash = scheme === -1 ? -1 : path.indexOf('/', scheme + 3);
    path = slash === -1 ? '/' : path.slice(slash);
  }
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end) || '/';
}

function longestPrefix(rows: readonly RouteEntry[], path: string): RouteEntry | undefined {
  return rows.find((r) => prefixMatches(r.pathPrefix, path));
}

/** Segment-aware prefix match: `/api` matches `/api` and `/api/x`, not `/apix`. */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  return path.startsWith(prefix) && (path.length === prefix.length || path[prefix.length] === '/');
}

function normaliseRow(row: RoutingRow): RouteEntry | string {
  const route = typeof row.route === 'string' && row.route !== '' ? row.route : '(unnamed)';
  const bad = (why: string) => `route ${route}: ${why}; row skipped`;
  if (typeof row.host !== 'string') return bad('host is not a string');
  const host = row.host.toLowerCase().replace(/\.$/, '');
  if (!HOST.test(host)) return bad(`host "${row.host}" is not a DNS name or *.wildcard`);
  if (typeof row.pathPrefix !== 'string' || !row.pathPrefix.startsWith('/')) {
    return bad(`path prefix ${JSON.stringify(row.pathPrefix)} does not start with /`);
  }
  if (/[?#]/.test(row.pathPrefix)) return bad(`path prefix "${row.pathPrefix}" holds a query or fragment`);
  const pathPrefix = row.pathPrefix.length > 1 ? row.pathPrefix.replace(/\/+$/, '') || '/' : '/';
  if (!Array.isArray(row.backends)) return bad('backends is not a JSON array');
  const backends: Backend[] = [];
  for (const b of row.backends as unknown[]) {
    const backend = normaliseBackend(b);
    if (typeof backend === 'string') return bad(backend);
    backends.push(backend);
  }
  const rateLimit = normaliseRateLimit(row.rateLimit);
  if (typeof rateLimit === 'string') return bad(rateLimit);
  return Object.freeze({
    host,
    pathPrefix,
    route,
    backends: Object.freeze(backends),
    ...(row.suspended === true ? { suspended: true as const } : {}),
    ...(row.httpsRedirect === true ? { httpsRedirect: true as const } : {}),
    ...(rateLimit ? { rateLimit } : {}),
  });
}

/** The schema's bounds (schemas/common.schema.json rateLimit), checked again: a row is data. */
const MAX_RATE = 1_000_000;

function normaliseRateLimit(value: unknown): RateLimit | undefined | string {
  if (value === undefined || value === null) return undefined;
  const { requestsPerSecond, burst } = (typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const valid = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_RATE;
  if (!valid(requestsPerSecond) || !valid(burst)) return `rate limit ${JSON.stringify(value)} needs whole requestsPerSecond and burst from 1 to ${MAX_RATE}`;
  return Object.freeze({ requestsPerSecond, burst });
}

function normaliseBackend(value: unknown): Backend | string {
  if (typeof value !== 'object' || value === null) return `backend ${JSON.stringify(value)} is not an object`;
  const { address, port, instance } = value as Record<string, unknown>;
  if (typeof address !== 'string' || address === '') return `backend ${JSON.stringify(value)} has no address`;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) {
    return `backend ${JSON.stringify(value)} has no port from 1 to 65535`;
  }
  return Object.freeze({ address, port, instance: typeof instance === 'string' ? instance : `${address}:${port}` });
}
