/**
 * @module
 * The edge (`tend edge`): an HTTP and HTTPS reverse proxy that routes by host and path prefix to
 * the healthy instances of Apps, reading its routes and certificates from PostgreSQL only
 * (`platform.routing`, `platform.certificates`, which the Route controller maintains). Any number
 * of edges run side by side; they share nothing but the tables and the certificates key.
 *
 * Design notes
 * - The table is an immutable snapshot (`routing-table.ts`, pure and unit-tested), read whole in
 *   one statement with its version and swapped in one assignment: a request sees the old table or
 *   the new one, never a mix. NOTIFY makes changes visible in milliseconds; a check of
 *   `platform.routing_version` every 5 s makes a lost notification cost seconds, not staleness.
 * - Matching is the Gateway API's: exact host, then the longest `*.suffix` wildcard (one or more
 *   labels), then the longest segment-aware path prefix; hosts compared without port or case.
 * - The proxying itself — streaming both bodies without buffering, WebSocket tunnels, hop-by-hop
 *   headers — is http-proxy-3's. What is tend's own is small: choosing the backend (round robin,
 *   passive ejection of a backend that refuses connections), and the retry decision (once, on
 *   another backend, only for an idempotent bodiless request whose response has not started).
 * - What a client sees from the edge itself is short plain text naming no tenant's namespace or
 *   Route: 404 `no route for host x`, 503 `no healthy backend`, 502 `upstream failed (refused)`,
 *   504 `upstream timed out`, 400 `bad request: the path climbs above the root`.
 * - Bad clients hold a bounded share (`client-limits.ts`): header, request and keep-alive
 *   timeouts, a connection cap, an upstream silence timeout (504) and a WebSocket idle timeout.
 *   Paths are normalised before matching and forwarded as matched (`request-path.ts`); the
 *   forwarding headers are the edge's own unless the peer is a trusted proxy (`forwarded-headers.ts`).
 * - HTTPS picks each host's certificate by SNI from a host → TLS context table
 *   (`certificate-table.ts`), loaded and swapped like the routing table (`certificate-loader.ts`):
 *   a renewed certificate is in force within a second, open connections keep theirs. Private
 *   keys arrive sealed to the certificates key (`--certificates-key-file`) and are opened only
 *   into a TLS context. A host without a usable certificate gets no handshake — there is no
 *   default certificate to show instead. A Route with `tls.redirect` answers plain HTTP with 308.
 * - PostgreSQL down does not stop traffic: a failed read keeps the table in force, and every
 *   table read is saved to a snapshot file (`routing-snapshot.ts`, atomic, 0600) that an edge
 *   started while PostgreSQL cannot be read serves until it can.
 * - Rate limits hold for all edges together (`edge-membership.ts`): every process heartbeats its
 *   row in platform.edge_members with what it was asked per limited Route, reads the others', and
 *   admits its share (`limit-shares.ts`, pure) from token buckets of its own (`route-limiter.ts`);
 *   over it, 429 with Retry-After. No request waits for PostgreSQL.
 * - Metrics have bounded labels (Route, status class, error kind); everything per request goes
 *   to the access log, which leaves out query strings and headers (tokens, cookies).
 *
 * ```ts
 * await using store = new Store({ connectionString: databaseUrl, logger, poolSize: 2 });
 * const stop = new AbortController();
 * process.once('SIGTERM', () => stop.abort());
 * await runEdge({ store, listenUrl: databaseUrl, logger, listen: parseListenAddress(':8080') }, stop.signal);
 * ```
 */
export { runEdge, startEdge, type Edge, type EdgeOptions } from './edge.js';
export { Balancer, backendKey, type BalancerOptions } from './balancer.js';
export { CertificateLoader, CERTIFICATES_CHANNEL, type CertificateLoaderOptions } from './certificate-loader.js';
export { CertificateSnapshot, CERTIFICATES_SNAPSHOT_FILE, type CertificateSnapshotRead } from './certificate-snapshot.js';
export { CertificateTable, normaliseServerName, type CertificateEntry, type CertificateRow } from './certificate-table.js';
export { EdgeMembership, MAX_PUBLISHED_ROUTES, type EdgeMembershipOptions } from './edge-membership.js';
export { EdgeMetrics } from './edge-metrics.js';
export { RESERVE, shareOf } from './limit-shares.js';
export { RouteLimiter } from './route-limiter.js';
export { ClientLimitsError, DEFAULT_CLIENT_LIMITS, compileClientLimits, type ClientLimits } from './client-limits.js';
export { TrustedProxies, TrustedProxiesError, setForwardedHeaders } from './forwarded-headers.js';
export { normaliseRequestTarget, type NormalisedTarget, type RefusedTarget } from './request-path.js';
export { formatListenAddress, parseListenAddress, type ListenAddress } from './listen-address.js';
export { RoutingLoader, ROUTING_CHANNEL, type RoutingLoaderOptions, type TableSource } from './routing-loader.js';
export { RoutingSnapshot, SNAPSHOT_FILE, parseSnapshot, type SavedTable, type SnapshotRead } from './routing-snapshot.js';
export { RoutingTable, normaliseHost, pathOf, prefixMatches, type Backend, type RateLimit, type RouteEntry, type RouteMatch, type RoutingRow } from './routing-table.js';
export { classifyUpstreamError, mayRetry, shouldEject, type UpstreamErrorKind } from './retry-policy.js';
