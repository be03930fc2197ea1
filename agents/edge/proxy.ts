/**
 * The edge's request path: match the request against the table in force, pick a backend, hand the
 * request to http-proxy-3 (which streams both bodies and tunnels WebSocket upgrades), and decide
 * what a failed attempt means — eject the backend, retry once elsewhere, or answer 502. Writes one
 * access log line and the metrics for every request.
 *
 * The edge terminates plain HTTP, so it sets `X-Forwarded-Proto: http` and `X-Forwarded-Host`
 * (overwriting what a client sent: it is the first hop that knows them) and appends the client's
 * address to `X-Forwarded-For`.
 */
import { Agent, type IncomingMessage, type ServerResponse, type ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable, type Duplex } from 'node:stream';
import { createProxyServer, type ServerOptions } from 'http-proxy-3';
import type { Logger } from 'pino';
import { backendKey, type Balancer } from './balancer.js';
import { NO_ROUTE, type EdgeMetrics } from './edge-metrics.js';
import { CONNECT_TIMEOUT_CODE, classifyUpstreamError, hasRequestBody, mayRetry, shouldEject, type UpstreamErrorKind } from './retry-policy.js';
import { pathOf, type Backend, type RouteEntry, type RoutingTable } from './routing-table.js';

export interface EdgeProxyOptions {
  /** The table in force; read once per request. */
  readonly table: () => RoutingTable;
  readonly balancer: Balancer;
  readonly metrics: EdgeMetrics;
  /** Access log lines go here at info, upstream trouble at warn. */
  readonly logger: Logger;
  /** Longest wait for a TCP connection to a backend before it counts as down. @default 5_000 */
  readonly connectTimeoutMs?: number;
}

/** One request (or upgrade) on its way through the edge. */
interface Exchange {
  readonly startedAt: number;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly hasBody: boolean;
  route: string;
  entry?: RouteEntry;
  backend?: Backend;
  /** Upstream attempts so far; an error from an earlier one is stale. */
  attempt: number;
  readonly tried: Set<string>;
  upstreamError?: UpstreamErrorKind;
  /** For upgrades: the status the backend answered (101 when the tunnel opened). */
  upgradeStatus?: number;
}

const TEXT = 'text/plain; charset=utf-8';
const STATUS_TEXT: Readonly<Record<number, string>> = { 404: 'Not Found', 502: 'Bad Gateway', 503: 'Service Unavailable' };

/** Handlers for the edge's HTTP server: `request` and `upgrade`. */
export class EdgeProxy {
  private readonly proxy = createProxyServer({ xfwd: false });
  // Keep-alive to backends; a pooled socket is dropped after 4 s idle, before a Node backend's
  // default 5 s keepAliveTimeout closes it under a request (that race costs a reset).
  private readonly agent = new Agent({ keepAlive: true, timeout: 4_000 });
  private readonly exchanges = new WeakMap<IncomingMessage, Exchange>();
  private readonly tunnels = new Set<Duplex>();
  private readonly targets = new WeakMap<Backend, URL>();
  private readonly connectTimeoutMs: number;
  private readonly log: Logger;
  private draining = false;

  constructor(private readonly options: EdgeProxyOptions) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.log = options.logger;
    this.proxy.on('proxyReq', (proxyReq, _req, _res, _options, socket) => this.guardConnect(proxyReq, socket));
    this.proxy.on('proxyReqWs', (proxyReq, req) => {
      proxyReq.once('socket', (socket: Socket) => this.guardConnect(proxyReq, socket));
      const exchange = this.exchanges.get(req);
      if (!exchange) return;
      proxyReq.once('upgrade', () => (exchange.upgradeStatus = 101));
      proxyReq.once('response', (r: IncomingMessage) => (exchange.upgradeStatus = r.statusCode));
    });
    this.proxy.on('proxyRes', (proxyRes, req, res) => {
      if (this.draining) proxyRes.headers.connection = 'close';
      // A backend dying mid-response ends proxyRes without completing it; pipe() would leave
      // the client waiting forever, so cut the client off too: it sees a truncated response.
      proxyRes.once('close', () => {
        if (proxyRes.complete) return;
        const exchange = this.exchanges.get(req);
        if (exchange && !res.writableFinished && !res.destroyed) {
          exchange.upstreamError = 'reset';
          this.options.metrics.observeUpstreamError(exchange.route, 'reset');
        }
        res.destroy();
      });
    });
    // http-proxy-3 emits errors here when no callback applies (a client socket error on an
    // upgrade); without a listener it would throw.
    this.proxy.on('error', (err, _req, resOrSocket) => {
      this.log.debug({ err: err.message }, 'proxy error outside a request');
      resOrSocket?.destroy();
    });
  }

  /** The `request` listener. */
  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const exchange = this.begin(req);
    res.once('close', () => this.finishRequest(exchange, res));
    if (this.draining) res.setHeader('connection', 'close');
    const refusal = this.route(exchange, req);
    if (refusal) return reply(res, refusal.status, refusal.text);
    setForwardedHeaders(req);
    this.attempt(req, res, exchange, exchange.backend!);
  };

  /** The `upgrade` listener: WebSocket tunnels (not retried; a refused one answers 502). */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const exchange = this.begin(req);
    this.tunnels.add(socket);
    socket.once('close', () => {
      this.tunnels.delete(socket);
      this.finish(exchange, exchange.upgradeStatus ?? 499, false);
    });
    const refusal = this.draining ? { status: 503, text: 'edge shutting down' } : this.route(exchange, req);
    if (refusal) {
      exchange.upgradeStatus = refusal.status;
      return replyOnSocket(socket, refusal.status, refusal.text);
    }
    setForwardedHeaders(req);
    exchange.attempt = 1;
    this.proxy.ws(req, socket, head, { target: this.targetOf(exchange.backend!) }, (err) => {
      const kind = this.countFailure(exchange, err);
      if (exchange.upgradeStatus === undefined && socket.writable) {
        exchange.upgradeStatus = 502;
        replyOnSocket(socket, 502, `upstream failed for route ${exchange.route} (${kind})`);
      }
    });
  };

  /** From now on responses close their connections (so clients reconnect elsewhere); new upgrades get 503. */
  drain(): void {
    this.draining = true;
  }

  /** Cuts every open WebSocket tunnel (at the end of a drain). */
  closeTunnels(): void {
    for (const socket of this.tunnels) socket.destroy();
  }

  /** Releases pooled backend connections. */
  close(): void {
    this.closeTunnels();
    this.agent.destroy();
  }

  private begin(req: IncomingMessage): Exchange {
    const exchange: Exchange = {
      startedAt: performance.now(),
      method: req.method ?? 'GET',
      host: (req.headers.host ?? '').slice(0, 255),
      path: pathOf(req.url ?? '/'),
      hasBody: hasRequestBody(req.headers),
      route: NO_ROUTE,
      attempt: 0,
      tried: new Set(),
    };
    this.exchanges.set(req, exchange);
    return exchange;
  }

  /** Fills in route and first backend, or says why the request is refused. */
  private route(exchange: Exchange, req: IncomingMessage): { status: number; text: string } | undefined {
    const match = this.options.table().match(exchange.host, req.url ?? '/');
    if (match.kind === 'no-host') return { status: 404, text: `no route for host ${match.host}` };
    if (match.kind === 'no-path') return { status: 404, text: `no route for path ${match.path} on host ${match.host}` };
    exchange.route = match.entry.route;
    exchange.entry = match.entry;
    if (match.entry.suspended) return { status: 503, text: 'service suspended' };
    const backend = this.options.balancer.pick(match.entry);
    if (!backend) return { status: 503, text: `no healthy backend for route ${match.entry.route}` };
    exchange.backend = backend;
    return undefined;
  }

  private attempt(req: IncomingMessage, res: ServerResponse, exchange: Exchange, backend: Backend): void {
    const attempt = ++exchange.attempt;
    exchange.backend = backend;
    exchange.tried.add(backendKey(backend));
    const options: ServerOptions = { target: this.targetOf(backend), agent: this.agent };
    // Only bodiless requests are retried (retry-policy.ts), and the first attempt already drained
    // the request stream to its end: the retry gets an empty one.
    if (attempt > 1) options.buffer = Readable.from([]);
    this.proxy.web(req, res, options, (err) => {
      if (attempt !== exchange.attempt) return; // a late error of an attempt already given up
      if (req.socket.destroyed) return res.destroy(); // the client left; nobody to answer
      this.failed(req, res, exchange, err);
    });
  }

  private failed(req: IncomingMessage, res: ServerResponse, exchange: Exchange, err: Error): void {
    const kind = this.countFailure(exchange, err);
    const retry = mayRetry({ method: exchange.method, hasBody: exchange.hasBody, responseStarted: res.headersSent, attempt: exchange.attempt, kind });
    const next = retry ? this.options.balancer.pick(exchange.entry!, exchange.tried) : undefined;
    if (next) {
      this.log.debug({ route: exchange.route, from: backendKey(exchange.backend!), to: backendKey(next), kind }, 'retrying on another backend');
      return this.attempt(req, res, exchange, next);
    }
    if (res.headersSent) return void res.destroy();
    reply(res, 502, `upstream failed for route ${exchange.route} (${kind})`);
  }

  /** Metric, ejection and log for one failed attempt. */
  private countFailure(exchange: Exchange, err: Error): UpstreamErrorKind {
    const kind = classifyUpstreamError(err);
    exchange.upstreamError = kind;
    this.options.metrics.observeUpstreamError(exchange.route, kind);
    const backend = exchange.backend!;
    if (shouldEject(kind) && this.options.balancer.eject(backend)) {
      this.log.warn({ route: exchange.route, backend: backendKey(backend), instance: backend.instance, kind, err: err.message }, 'backend ejected');
    }
    return kind;
  }

  /** Fails a connection attempt that takes too long, with a code the retry policy knows. */
  private guardConnect(proxyReq: ClientRequest, socket: Socket): void {
    if (!socket.connecting) return; // a pooled keep-alive connection
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`no connection within ${this.connectTimeoutMs} ms`), { code: CONNECT_TIMEOUT_CODE });
      proxyReq.destroy(err);
    }, this.connectTimeoutMs);
    const clear = () => clearTimeout(timer);
    socket.once('connect', clear);
    socket.once('close', clear);
  }

  private targetOf(backend: Backend): URL {
    let url = this.targets.get(backend);
    if (!url) {
      url = new URL(`http://${backendKey(backend)}`);
      this.targets.set(backend, url);
    }
    return url;
  }

  private finishRequest(exchange: Exchange, res: ServerResponse): void {
    // A client that leaves before the status line gets nginx's 499 in the log, not a made-up 200.
    const status = res.headersSent ? res.statusCode : 499;
    this.finish(exchange, status, res.headersSent && !res.writableFinished);
  }

  private finish(exchange: Exchange, status: number, truncated: boolean): void {
    const ms = performance.now() - exchange.startedAt;
    // A WebSocket's lifetime is no request latency: counted, but kept out of the histogram.
    this.options.metrics.observeRequest(exchange.route, status, status === 101 ? undefined : ms / 1000);
    // The query string and headers stay out: they carry tokens and cookies.
    this.log.info(
      {
        method: exchange.method,
        host: exchange.host,
        path: exchange.path,
        status,
        route: exchange.route,
        backend: exchange.backend ? backendKey(exchange.backend) : undefined,
        durationMs: Math.round(ms * 10) / 10,
        ...(exchange.attempt > 1 ? { attempts: exchange.attempt } : {}),
        ...(exchange.upstreamError ? { upstreamError: exchange.upstreamError } : {}),
        ...(truncated ? { truncated } : {}),
      },
      'request',
    );
  }
}

/** Appends the client to X-Forwarded-For and sets X-Forwarded-Proto and -Host. */
function setForwardedHeaders(req: IncomingMessage): void {
  const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const prior = req.headers['x-forwarded-for'];
  req.headers['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${client}` : client;
  req.headers['x-forwarded-proto'] = 'http';
  req.headers['x-forwarded-host'] = req.headers.host ?? '';
}

/** A short plain-text answer of the edge's own (404, 502, 503). */
function reply(res: ServerResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    'content-type': TEXT,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

/** The same on a raw socket, for upgrade requests (no ServerResponse exists for them). */
function replyOnSocket(socket: Duplex, status: number, text: string): void {
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: ${TEXT}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `cache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
  );
}
