/**
 * One edge process: the routing loader, the proxy on `listen` (plain HTTP) and, with
 * `httpsListen`, on an HTTPS address whose certificate is chosen per host by SNI from the
 * certificate loader's table; `/healthz`, `/readyz` and `/metrics` on a separate admin address,
 * up first. It starts serving only once the first table is loaded — and the certificates, when
 * PostgreSQL answered (a 404 for every host, or a failed handshake, during start-up would look
 * like an outage) — and `/readyz` is 503 until then, so an edge that reports ready serves the
 * table and certificates of the moment it started, not those of its last run. It stops gracefully: no new
 * connections, in-flight requests finish (up to `drainMs`), then everything closes. With a
 * `snapshotFile` it keeps the last table read on disk and, when PostgreSQL cannot be read at
 * start, serves that one until it can (`routing-snapshot.ts`).
 */
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { type Queryable, startHealthServer } from '../../framework/index.js';
import type { SealingKey } from '../../secrets/seal.js';
import { Balancer } from './balancer.js';
import { CertificateLoader } from './certificate-loader.js';
import { CertificateSnapshot } from './certificate-snapshot.js';
import { compileClientLimits, timeoutCheckIntervalMs, type ClientLimits } from './client-limits.js';
import { EdgeMembership } from './edge-membership.js';
import { EdgeMetrics } from './edge-metrics.js';
import type { TrustedProxies } from './forwarded-headers.js';
import { formatListenAddress, type ListenAddress } from './listen-address.js';
import { EdgeProxy } from './proxy.js';
import { RouteLimiter } from './route-limiter.js';
import { RoutingLoader, type TableSource } from './routing-loader.js';
import { RoutingSnapshot } from './routing-snapshot.js';

/** The code of the error SNICallback gives for a host without a certificate. */
const NO_CERTIFICATE = 'TEND_NO_CERTIFICATE';

export interface EdgeOptions {
  /** Where the routing table is read. */
  readonly store: Queryable;
  /** A direct PostgreSQL URL for LISTEN. */
  readonly listenUrl: string;
  readonly logger: Logger;
  /** Where the proxy listens. @default 127.0.0.1:8080 */
  readonly listen?: ListenAddress;
  /** Where the proxy listens for HTTPS (certificates from platform.certificates, by SNI). @default none: plain HTTP only */
  readonly httpsListen?: ListenAddress;
  /** The certificates key (certificates/certificates-key.ts) that opens the stored private keys. @default none: no host has a certificate */
  readonly certificatesKey?: SealingKey;
  /** The HTTPS port clients reach (the Location of a redirect to https). @default the port of httpsListen */
  readonly httpsPublicPort?: number;
  /** Where `/healthz`, `/readyz` and `/metrics` are served. @default 127.0.0.1:0 (a free port) */
  readonly adminListen?: ListenAddress;
  /** How often the routing version is checked, healing lost notifications. @default 5_000 */
  readonly checkMs?: number;
  /** How long a backend that refused a connection gets no traffic. @default 5_000 */
  readonly ejectMs?: number;
  /** Longest wait for a connection to a backend. @default 5_000 */
  readonly connectTimeoutMs?: number;
  /** On shutdown, how long in-flight requests (and WebSockets) may take to finish. @default 10_000 */
  readonly drainMs?: number;
  /** Timeouts and the connection cap (`client-limits.ts`); each absent one its default. */
  readonly limits?: Partial<ClientLimits>;
  /** Peers whose forwarding headers are believed (a load balancer in front). @default nobody */
  readonly trustedProxies?: TrustedProxies;
  /**
   * Where the last routing table read is kept (0600, replaced atomically), served at start while
   * PostgreSQL cannot be read. @default none: such an edge waits for PostgreSQL
   */
  readonly snapshotFile?: string;
  /** Where the last certificates read are kept (0600; private keys only sealed), served at start while PostgreSQL cannot be read. @default none */
  readonly certificatesSnapshotFile?: string;
  /**
   * How often this process renews its row among the edge processes and reads the others', to
   * divide rate limits (`edge-membership.ts`); a process silent for three periods stops counting.
   * @default 1_000
   */
  readonly membershipHeartbeatMs?: number;
  /** This process in platform.edge_members, for people. @default `host pid` */
  readonly memberName?: string;
}

/** A running edge. */
export interface Edge extends AsyncDisposable {
  /** The proxy's address (the real port when 0 was asked). */
  readonly address: ListenAddress;
  readonly adminAddress: ListenAddress;
  /** The HTTPS address (the real port when 0 was asked), with httpsListen. */
  readonly httpsAddress: ListenAddress | undefined;
  /** The `platform.certificates_version` of the certificates being served (-1 without HTTPS). */
  certificatesVersion(): bigint;
  /** The `platform.routing_version` of the table being served. */
  routingVersion(): bigint;
  /** Where that table came from: PostgreSQL, or the snapshot file while PostgreSQL could not be read. */
  routingSource(): TableSource;
  /** Edge processes dividing the rate limits at the last heartbeat, this one included (0 before the first). */
  members(): number;
  /** Drains and stops; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts an edge and resolves once it serves. Rejects if `signal` aborts before the first table
 * is loaded (the database may be unreachable: the loader keeps retrying until then).
 */
export async function startEdge(options: EdgeOptions, signal?: AbortSignal): Promise<Edge> {
  const log = options.logger.child({ component: 'edge' });
  const limits = compileClientLimits(options.limits);
  const metrics = new EdgeMetrics();
  const balancer = new Balancer({ ejectMs: options.ejectMs });
  const loader = new RoutingLoader({
    store: options.store,
    listenUrl: options.listenUrl,
    logger: options.logger,
    checkMs: options.checkMs,
    ...(options.snapshotFile ? { snapshot: new RoutingSnapshot(options.snapshotFile) } : {}),
    onTable: (table, _previous, source) =>
      metrics.setTable(table.version, table.entries.map((e) => e.route), source, table.entries.filter((e) => e.rateLimit).map((e) => e.route)),
    onReadFailure: () => metrics.observeRoutingReadFailure(),
  });
  const certificates = options.httpsListen
    ? new CertificateLoader({
        store: options.store,
        listenUrl: options.listenUrl,
        key: options.certificatesKey,
        logger: options.logger,
        checkMs: options.checkMs,
        ...(options.certificatesSnapshotFile ? { snapshot: new CertificateSnapshot(options.certificatesSnapshotFile) } : {}),
        onTable: (table) => metrics.setCertificates(table),
        onReadFailure: () => metrics.observeRoutingReadFailure(),
      })
    : undefined;
  const limiter = new RouteLimiter();
  const membership = new EdgeMembership({
    store: options.store,
    limiter,
    table: () => loader.current,
    logger: options.logger,
    ...(options.memberName ? { name: options.memberName } : {}),
    ...(options.membershipHeartbeatMs !== undefined ? { heartbeatMs: options.membershipHeartbeatMs } : {}),
    onMembers: (n) => metrics.setMembers(n),
  });
  const loaderStop = new AbortController();
  const loading = Promise.all([loader.run(loaderStop.signal), certificates?.run(loaderStop.signal), membership.run(loaderStop.signal)]);
  const stopLoader = async () => {
    loaderStop.abort();
    await loading;
  };

  // The admin server comes first: /healthz and /metrics answer during start-up, and /readyz says
  // what is still missing until the proxy serves (a load balancer sends nothing before that).
  let draining = false;
  let serving = false;
  const adminHost = options.adminListen?.host ?? '127.0.0.1';
  const admin = await startHealthServer({
    host: adminHost,
    port: options.adminListen?.port ?? 0,
    readiness: [
      {
        name: 'routing',
        check: async () => {
          if (loader.source === 'none') throw new Error('no routing table loaded yet');
        },
      },
      ...(certificates
        ? [
            {
              name: 'certificates',
              check: async () => {
                if (certificates.current.version < 0n && loader.source === 'database') throw new Error('no certificates loaded yet');
              },
            },
          ]
        : []),
      {
        name: 'edge',
        check: async () => {
          if (draining) throw new Error('shutting down');
          if (!serving) throw new Error('not listening yet');
        },
      },
    ],
    metrics: metrics.registry,
    logger: log,
  }).catch(async (err: unknown) => {
    await stopLoader();
    throw err;
  });
  const adminAddress = { host: adminHost, port: admin.port };
  const abandon = async (why: string): Promise<never> => {
    await stopLoader();
    await admin.close();
    throw new Error(why);
  };

  if (signal?.aborted || !(await loadedOrAborted(loader.loaded(), signal))) await abandon('edge stopped before its routing table was loaded');
  // The certificates come next: no HTTPS host fails its first handshakes. While PostgreSQL cannot
  // be read (the routing table came from its snapshot), the certificates snapshot, if any, will do.
  if (certificates && !(await loadedOrAborted(loader.source === 'database' ? certificates.loaded() : certificates.settled(), signal))) {
    await abandon('edge stopped before its certificates were loaded');
  }
  // And its place among the edges: its first requests are admitted at its share of each rate
  // limit, not at the whole of it. Should its first heartbeat fail (PostgreSQL unreadable), it
  // serves alone until one works.
  if (!(await loadedOrAborted(membership.settled(), signal))) await abandon('edge stopped before it tried to join the edge members');
  if (membership.members === 0) log.warn('serving before joining the edge members (PostgreSQL cannot be read): each rate limit is admitted whole by this process until it can');

  const proxy = new EdgeProxy({
    table: () => loader.current,
    balancer,
    limiter,
    metrics,
    logger: log,
    connectTimeoutMs: options.connectTimeoutMs,
    upstreamTimeoutMs: limits.upstreamTimeoutMs,
    webSocketIdleTimeoutMs: limits.webSocketIdleTimeoutMs,
    trustedProxies: options.trustedProxies,
  });
  const http = {
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: timeoutCheckIntervalMs(limits),
  };
  const servers: Server[] = [];
  const serve = (server: Server): Server => {
    server.on('request', (req, res) => {
      proxy.handleRequest(req, res);
      // During a drain a keep-alive connection whose response was already under way becomes idle
      // here; close it now rather than after keepAliveTimeout.
      res.once('finish', () => draining && setImmediate(() => server.closeIdleConnections()));
    });
    // Past the cap Node closes a new connection on accept, before reading a byte (Envoy's
    // overload manager does the same): answering it would cost what the cap saves. The cap is
    // per server: plain HTTP and HTTPS each hold at most maxConnections.
    server.maxConnections = limits.maxConnections;
    server.on('drop', () => metrics.observeDroppedConnection());
    server.on('clientError', proxy.handleClientError);
    server.on('upgrade', proxy.handleUpgrade);
    servers.push(server);
    return server;
  };
  const server = serve(createServer(http));
  const secure = certificates
    ? serve(
        createHttpsServer({
          ...http,
          // A handshake is part of the request's headers: a client gets as long for both.
          handshakeTimeout: limits.headerTimeoutMs,
          minVersion: 'TLSv1.2',
          // The host's context from the table in force; no certificate for a host means no
          // handshake (never a default certificate, which would be another host's or none).
          SNICallback: (serverName, done) => {
            const context = certificates.current.context(serverName);
            if (context) return done(null, context);
            done(Object.assign(new Error(`no certificate for ${serverName.slice(0, 255)}`), { code: NO_CERTIFICATE }));
          },
        }),
      )
    : undefined;
  // A handshake for a host without a certificate, or without SNI (a client that connects by
  // address, which gets no certificate either), fails: counted, not logged per connection.
  secure?.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    metrics.observeTlsHandshakeFailure(err.code === NO_CERTIFICATE ? 'unknown_host' : !socket.servername ? 'no_sni' : 'other');
  });
  try {
    await listen(server, options.listen ?? { host: '127.0.0.1', port: 8080 });
    if (secure) await listen(secure, options.httpsListen!);
  } catch (err) {
    server.close();
    await stopLoader();
    await admin.close();
    throw err;
  }
  serving = true;
  const address = addressOf(server);
  const httpsAddress = secure ? addressOf(secure) : undefined;
  if (httpsAddress) proxy.setHttpsPort(options.httpsPublicPort ?? httpsAddress.port);
  log.info(
    {
      proxy: formatListenAddress(address),
      ...(httpsAddress ? { https: formatListenAddress(httpsAddress, 'https'), certificates: certificates!.current.size, certificatesVersion: String(certificates!.current.version) } : {}),
      admin: formatListenAddress(adminAddress),
      version: String(loader.current.version),
      source: loader.source,
      limits,
      trustedProxies: options.trustedProxies?.entries ?? [],
    },
    'edge listening',
  );

  const drainMs = options.drainMs ?? 10_000;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      draining = true;
      proxy.drain();
      log.info({ drainMs }, 'edge draining: no new connections, finishing requests in flight');
      const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      for (const s of servers) s.closeIdleConnections();
      const deadline = setTimeout(() => {
        log.warn({ drainMs }, 'drain deadline passed; cutting the connections still open');
        proxy.closeTunnels();
        for (const s of servers) s.closeAllConnections();
      }, drainMs);
      await closed;
      clearTimeout(deadline);
      proxy.close();
      await stopLoader();
      await admin.close();
      log.info('edge stopped');
    })());
  return {
    address,
    adminAddress,
    httpsAddress,
    certificatesVersion: () => certificates?.current.version ?? -1n,
    routingVersion: () => loader.current.version,
    routingSource: () => loader.source,
    members: () => membership.members,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Runs an edge until `signal` aborts, then drains and resolves. `onListening` hears where it serves. */
export async function runEdge(options: EdgeOptions & { readonly onListening?: (edge: Edge) => void }, signal: AbortSignal): Promise<void> {
  let edge: Edge;
  try {
    edge = await startEdge(options, signal);
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
  options.onListening?.(edge);
  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await edge.stop();
}

async function loadedOrAborted(loaded: Promise<void>, signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) {
    await loaded;
    return true;
  }
  let onAbort: () => void = () => {};
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([loaded.then(() => true), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function listen(server: Server, at: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function addressOf(server: Server): ListenAddress {
  const info = server.address() as AddressInfo;
  return { host: info.address, port: info.port };
}
