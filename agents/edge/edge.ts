/**
 * One edge process: the routing loader, the proxy on `listen`, and `/healthz`, `/readyz` and
 * `/metrics` on a separate admin address. It starts serving only once the first table is loaded
 * (a 404 for every host during start-up would look like an outage), and stops gracefully: no new
 * connections, in-flight requests finish (up to `drainMs`), then everything closes. With a
 * `snapshotFile` it keeps the last table read on disk and, when PostgreSQL cannot be read at
 * start, serves that one until it can (`routing-snapshot.ts`).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { type Queryable, startHealthServer } from '../../framework/index.js';
import { Balancer } from './balancer.js';
import { compileClientLimits, timeoutCheckIntervalMs, type ClientLimits } from './client-limits.js';
import { EdgeMetrics } from './edge-metrics.js';
import type { TrustedProxies } from './forwarded-headers.js';
import { formatListenAddress, type ListenAddress } from './listen-address.js';
import { EdgeProxy } from './proxy.js';
import { RoutingLoader, type TableSource } from './routing-loader.js';
import { RoutingSnapshot } from './routing-snapshot.js';

export interface EdgeOptions {
  /** Where the routing table is read. */
  readonly store: Queryable;
  /** A direct PostgreSQL URL for LISTEN. */
  readonly listenUrl: string;
  readonly logger: Logger;
  /** Where the proxy listens. @default 127.0.0.1:8080 */
  readonly listen?: ListenAddress;
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
}

/** A running edge. */
export interface Edge extends AsyncDisposable {
  /** The proxy's address (the real port when 0 was asked). */
  readonly address: ListenAddress;
  readonly adminAddress: ListenAddress;
  /** The `platform.routing_version` of the table being served. */
  routingVersion(): bigint;
  /** Where that table came from: PostgreSQL, or the snapshot file while PostgreSQL could not be read. */
  routingSource(): TableSource;
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
    onTable: (table, _previous, source) => metrics.setTable(table.version, table.entries.map((e) => e.route), source),
    onReadFailure: () => metrics.observeRoutingReadFailure(),
  });
  const loaderStop = new AbortController();
  const loading = loader.run(loaderStop.signal);
  const stopLoader = async () => {
    loaderStop.abort();
    await loading;
  };

  if (signal?.aborted || !(await loadedOrAborted(loader, signal))) {
    await stopLoader();
    throw new Error('edge stopped before its routing table was loaded');
  }

  const proxy = new EdgeProxy({
    table: () => loader.current,
    balancer,
    metrics,
    logger: log,
    connectTimeoutMs: options.connectTimeoutMs,
    upstreamTimeoutMs: limits.upstreamTimeoutMs,
    webSocketIdleTimeoutMs: limits.webSocketIdleTimeoutMs,
    trustedProxies: options.trustedProxies,
  });
  let draining = false;
  const server = createServer(
    {
      headersTimeout: limits.headerTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: timeoutCheckIntervalMs(limits),
    },
    (req, res) => {
    proxy.handleRequest(req, res);
    // During a drain a keep-alive connection whose response was already under way becomes idle
    // here; close it now rather than after keepAliveTimeout.
    res.once('finish', () => draining && setImmediate(() => server.closeIdleConnections()));
    },
  );
  // Past the cap Node closes a new connection on accept, before reading a byte (Envoy's
  // overload manager does the same): answering it would cost what the cap saves.
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => metrics.observeDroppedConnection());
  server.on('clientError', proxy.handleClientError);
  server.on('upgrade', proxy.handleUpgrade);
  try {
    await listen(server, options.listen ?? { host: '127.0.0.1', port: 8080 });
  } catch (err) {
    await stopLoader();
    throw err;
  }
  const address = addressOf(server);
  const admin = await startHealthServer({
    host: options.adminListen?.host ?? '127.0.0.1',
    port: options.adminListen?.port ?? 0,
    readiness: [
      {
        name: 'edge',
        check: async () => {
          if (draining) throw new Error('shutting down');
        },
      },
    ],
    metrics: metrics.registry,
    logger: log,
  }).catch(async (err: unknown) => {
    server.close();
    await stopLoader();
    throw err;
  });
  const adminAddress = { host: options.adminListen?.host ?? '127.0.0.1', port: admin.port };
  log.info(
    { proxy: formatListenAddress(address), admin: formatListenAddress(adminAddress), version: String(loader.current.version), source: loader.source, limits, trustedProxies: options.trustedProxies?.entries ?? [] },
    'edge listening',
  );

  const drainMs = options.drainMs ?? 10_000;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      draining = true;
      proxy.drain();
      log.info({ drainMs }, 'edge draining: no new connections, finishing requests in flight');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = setTimeout(() => {
        log.warn({ drainMs }, 'drain deadline passed; cutting the connections still open');
        proxy.closeTunnels();
        server.closeAllConnections();
      }, drainMs);
      await closed;
      clearTimeout(deadline);
      proxy.close();
      await stopLoader();
      await admin.close();
      log.info('edge stopped');
    })());
  return { address, adminAddress, routingVersion: () => loader.current.version, routingSource: () => loader.source, stop, [Symbol.asyncDispose]: stop };
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

async function loadedOrAborted(loader: RoutingLoader, signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) {
    await loader.loaded();
    return true;
  }
  let onAbort: () => void = () => {};
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([loader.loaded().then(() => true), aborted]);
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
