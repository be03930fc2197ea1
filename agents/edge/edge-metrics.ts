/**
 * The edge's Prometheus metrics, in a registry of its own (served on the admin port). Labels are
 * the Route (`namespace/name`, bounded by the number of Routes) and a status class, never a host,
 * path or backend address: those are unbounded and belong in the access log.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CertificateTable } from './certificate-table.js';
import { UPSTREAM_ERROR_KINDS, type UpstreamErrorKind } from './retry-policy.js';
import type { TableSource } from './routing-loader.js';

/** The `route` label of a request that matched no route (real ones always hold a `/`). */
export const NO_ROUTE = 'none';

/** Why the edge cut a client off before or while reading its request; the `kind` label. */
export type ClientErrorKind = 'header_timeout' | 'request_timeout' | 'headers_too_large' | 'bad_request';
const CLIENT_ERROR_KINDS: readonly ClientErrorKind[] = ['header_timeout', 'request_timeout', 'headers_too_large', 'bad_request'];

/** Why a TLS handshake failed; the `reason` label. */
export type TlsFailureReason = 'unknown_host' | 'no_sni' | 'other';
const TLS_FAILURE_REASONS: readonly TlsFailureReason[] = ['unknown_host', 'no_sni', 'other'];

/** Counters, histogram and gauge of one edge process. */
export class EdgeMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'tend_edge_requests_total',
    help: 'Requests answered by the edge, by Route and status class (1xx for WebSocket upgrades)',
    labelNames: ['route', 'code_class'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'tend_edge_request_duration_seconds',
    help: 'Time from a request arriving to its response ending, by Route',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly upstreamErrors = new Counter({
    name: 'tend_edge_upstream_errors_total',
    help: 'Failed upstream attempts (a retried request counts each), by Route and kind',
    labelNames: ['route', 'kind'] as const,
    registers: [this.registry],
  });
  private readonly clientErrors = new Counter({
    name: 'tend_edge_client_errors_total',
    help: 'Client connections cut for a header or request timeout (408), too large headers (431) or a malformed request (400)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly droppedConnections = new Counter({
    name: 'tend_edge_connections_dropped_total',
    help: 'Client connections closed on accept because the edge held its maximum of concurrent connections',
    registers: [this.registry],
  });
  private readonly routingVersion = new Gauge({
    name: 'tend_edge_routing_version',
    help: 'platform.routing_version of the routing table being served (-1 before the first load)',
    registers: [this.registry],
  });
  private readonly routes = new Gauge({
    name: 'tend_edge_routes',
    help: 'Rows of the routing table being served',
    registers: [this.registry],
  });
  private readonly fromSnapshot = new Gauge({
    name: 'tend_edge_routing_from_snapshot',
    help: '1 while the table served is the snapshot on disk, read because PostgreSQL could not be at start; 0 once PostgreSQL was read',
    registers: [this.registry],
  });
  private readonly readFailures = new Counter({
    name: 'tend_edge_routing_read_failures_total',
    help: 'Failed reads of the routing table or its version from PostgreSQL (the table in force keeps being served)',
    registers: [this.registry],
  });

  private readonly rateLimited = new Counter({
    name: 'tend_edge_rate_limited_total',
    help: 'Requests answered 429 because their Route was over its rate limit (this edge process\'s share of it), by Route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  private readonly members = new Gauge({
    name: 'tend_edge_members',
    help: 'Edge processes this one divides rate limits with (itself included), as of its last heartbeat; 0 before the first',
    registers: [this.registry],
  });

  private readonly certificates = new Gauge({
    name: 'tend_edge_certificates',
    help: 'Hosts this edge serves over HTTPS (certificates in force)',
    registers: [this.registry],
  });
  private readonly certificatesUnusable = new Gauge({
    name: 'tend_edge_certificates_unusable',
    help: 'Rows of platform.certificates this edge cannot serve (sealed to another certificates key, refused by TLS): their hosts get no handshake',
    registers: [this.registry],
  });
  private readonly certificatesVersion = new Gauge({
    name: 'tend_edge_certificates_version',
    help: 'platform.certificates_version of the certificates in force (-1 before the first load)',
    registers: [this.registry],
  });
  private readonly certificateExpiry = new Gauge({
    name: 'tend_edge_certificate_expiry_timestamp_seconds',
    help: 'When the certificate served for a Route expires (Unix time); alert on it minus time() below 14 days',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  private readonly handshakeFailures = new Counter({
    name: 'tend_edge_tls_handshake_failures_total',
    help: 'TLS handshakes that failed: for a host without a certificate (unknown_host), without a server name (no_sni: no certificate either), or otherwise (protocol, cipher, a client that went away)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor() {
    // Process RSS, CPU and event-loop lag: what tells an operator the edge itself is the problem.
    collectDefaultMetrics({ register: this.registry });
    this.routingVersion.set(-1);
    this.fromSnapshot.set(0);
    for (const kind of CLIENT_ERROR_KINDS) this.clientErrors.inc({ kind }, 0);
    this.certificatesVersion.set(-1);
    this.members.set(0);
    for (const reason of TLS_FAILURE_REASONS) this.handshakeFailures.inc({ reason }, 0);
  }

  /** Records the certificates now in force. */
  setCertificates(table: CertificateTable): void {
    this.certificates.set(table.size);
    this.certificatesUnusable.set(table.problems.length);
    this.certificatesVersion.set(Number(table.version));
    this.certificateExpiry.reset();
    for (const entry of table.entries()) this.certificateExpiry.set({ route: entry.route }, Math.floor(entry.notAfter.getTime() / 1000));
  }

  /** Counts one failed handshake. */
  observeTlsHandshakeFailure(reason: TlsFailureReason): void {
    this.handshakeFailures.inc({ reason });
  }

  /** Counts one client cut off by the HTTP server (`EdgeProxy.handleClientError`). */
  observeClientError(kind: ClientErrorKind): void {
    this.clientErrors.inc({ kind });
  }

  /** Counts one connection refused at the connection cap. */
  observeDroppedConnection(): void {
    this.droppedConnections.inc();
  }

  /** Counts one answered request, and its duration when given. */
  observeRequest(route: string, status: number, seconds: number | undefined): void {
    this.requests.inc({ route, code_class: codeClass(status) });
    if (seconds !== undefined) this.duration.observe({ route }, seconds);
  }

  /** Counts one request refused with 429. */
  observeRateLimited(route: string): void {
    this.rateLimited.inc({ route });
  }

  /** Records how many edge processes share the rate limits now. */
  setMembers(members: number): void {
    this.members.set(members);
  }

  /** Counts one failed upstream attempt. */
  observeUpstreamError(route: string, kind: UpstreamErrorKind): void {
    this.upstreamErrors.inc({ route, kind });
  }

  /** Counts one failed read of PostgreSQL by the routing loader. */
  observeRoutingReadFailure(): void {
    this.readFailures.inc();
  }

  /** Records the table now served and where it came from. */
  setTable(version: bigint, routes: readonly string[], source: TableSource, limited: readonly string[] = []): void {
    this.routingVersion.set(Number(version));
    this.fromSnapshot.set(source === 'snapshot' ? 1 : 0);
    this.routes.set(routes.length);
    // Pre-initialised to 0 so that a rate() over a Route's errors exists before its first error.
    for (const route of new Set(routes)) {
      for (const kind of UPSTREAM_ERROR_KINDS) this.upstreamErrors.inc({ route, kind }, 0);
    }
    for (const route of new Set(limited)) this.rateLimited.inc({ route }, 0);
  }
}

/** `2xx` for 204; `4xx` for the 499 the edge logs when a client goes away before the answer. */
export function codeClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}
