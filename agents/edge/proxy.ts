/**
 * The edge's request path: match the request against the table in force, pick a backend, hand the
 * request to http-proxy-3 (which streams both bodies and tunnels WebSocket upgrades), and decide
 * what a failed attempt means — eject the backend, retry once elsewhere, or answer 502. Writes one
 * access log line and the metrics for every request.
 *
 * Before routing, the target is normalised (`request-path.ts`: dot segments, percent-encoding;
 * 400 for what a backend could read differently) and exactly the normalised path is forwarded. The
 * edge is the first hop, so it sets the forwarding headers itself (`forwarded-headers.ts`), keeping
 * a client's only from a trusted proxy. A backend silent for the upstream timeout gets the client
 * a 504, a WebSocket idle for its timeout is closed (`client-limits.ts`).
 *
 * A Route with a rate limit takes a token from this process's bucket for it (`route-limiter.ts`)
 * or is answered 429 with Retry-After, before it is redirected or forwarded.
 *
 * Pages of the edge's own name no namespace or Route (a client must not learn how tenants are
 * laid out); the access log line of the request has them.
 */
import { Agent, type IncomingMessage, type ServerResponse, type ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { Readable, type Duplex } from 'node:stream';
import { createProxyServer, type ServerOptions } from 'http-proxy-3';
import type { Logger } from 'pino';
import { backendKey, type Balancer } from './balancer.js';
import { DEFAULT_CLIENT_LIMITS } from './client-limits.js';
import { NO_ROUTE, type ClientErrorKind, type EdgeMetrics } from './edge-metrics.js';
import { TrustedProxies, setForwardedHeaders } from './forwarded-headers.js';
import { reply, replyOnSocket } from './own-replies.js';
import { normaliseRequestTarget } from './request-path.js';
import { CONNECT_TIMEOUT_CODE, UPSTREAM_TIMEOUT_CODE, classifyUpstreamError, hasRequestBody, mayRetry, shouldEject, type UpstreamErrorKind } from './retry-policy.js';
import { RouteLimiter } from './route-limiter.js';
import { normaliseHost, pathOf, type Backend, type RouteEntry, type RoutingTable } from './routing-table.js';

export interface EdgeProxyOptions {
  /** The table in force; read once per request. */
  readonly table: () => RoutingTable;
  readonly balancer: Balancer;
  /** Rate limits: this process's buckets, at its share of each limit. @default a limiter of its own (the whole limit) */
  readonly limiter?: RouteLimiter;
  readonly metrics: EdgeMetrics;
  /** Access log lines go here at info, upstream trouble at warn. */
  readonly logger: Logger;
  /** Longest wait for a TCP connection to a backend before it counts as down. @default 5_000 */
  readonly connectTimeoutMs?: number;
  /** Longest silence of a backend while a request is in flight; then 504. @default 60_000 */
  readonly upstreamTimeoutMs?: number;
  /** A WebSocket tunnel idle this long is closed. @default 300_000 */
  readonly webSocketIdleTimeoutMs?: number;
  /** Peers whose forwarding headers are kept and extended. @default nobody */
  readonly trustedProxies?: TrustedProxies;
}

/** One request (or upgrade) on its way through the edge. */
interface Exchange {
  readonly startedAt: number;
  readonly method: string;
  host: string;
  /** Normalised (once routed); as received before. */
  path: string;
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
  /** Why the edge refused the request itself, for the access log (the page says less). */
  refusal?: string;
  /** The status the edge wrote on the raw socket after a client error (408 for a timeout). */
  clientErrorStatus?: number;
}

/** Why the edge answers a request itself instead of forwarding it. */
interface Refusal {
  readonly status: number;
  readonly text: string;
  readonly location?: string;
  readonly retryAfterSeconds?: number;
}

/** Handlers for the edge's HTTP server: `request` and `upgrade`. */
export class EdgeProxy {
  private readonly proxy = createProxyServer({ xfwd: false });
  // Keep-alive to backends; a pooled socket is dropped after 4 s idle, before a Node backend's
  // default 5 s keepAliveTimeout closes it under a request (that race costs a reset).
  private readonly agent = new Agent({ keepAlive: true, timeout: 4_000 });
  private readonly exchanges = new WeakMap<IncomingMessage, Exchange>();
  /** The request a client connection is on now, for a client error (timeout) in the middle of it. */
  private readonly inFlight = new WeakMap<Duplex, { exchange: Exchange; res: ServerResponse }>();
  private readonly tunnels = new Set<Duplex>();
  private readonly targets = new WeakMap<Backend, URL>();
  private readonly connectTimeoutMs: number;
  private readonly upstreamTimeoutMs: number;
  private readonly webSocketIdleTimeoutMs: number;
  private readonly trusted: TrustedProxies;
  private readonly limiter: RouteLimiter;
  private readonly log: Logger;
  private draining = false;
  /** The HTTPS port in redirects; undefined while the edge has no HTTPS (then nothing is redirected). */
  private httpsPort: number | undefined;

  constructor(private readonly options: EdgeProxyOptions) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.upstreamTimeoutMs = options.upstreamTimeoutMs ?? DEFAULT_CLIENT_LIMITS.upstreamTimeoutMs;
    this.webSocketIdleTimeoutMs = options.webSocketIdleTimeoutMs ?? DEFAULT_CLIENT_LIMITS.webSocketIdleTimeoutMs;
    this.trusted = options.trustedProxies ?? TrustedProxies.none();
    this.limiter = options.limiter ?? new RouteLimiter();
    this.log = options.logger;
    this.proxy.on('proxyReq', (proxyReq, req, _res, _options, socket) => {
      this.guardConnect(proxyReq, socket);
      this.guardSilence(proxyReq, req);
    });
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
        // An upstream timeout cut it: already counted as that.
        if (exchange && !exchange.upstreamError && !res.writableFinished && !res.destroyed) {
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
    this.inFlight.set(req.socket, { exchange, res });
    res.once('close', () => {
      if (this.inFlight.get(req.socket)?.exchange === exchange) this.inFlight.delete(req.socket);
      this.finishRequest(exchange, res);
    });
    if (this.draining) res.setHeader('connection', 'close');
    const refusal = this.route(exchange, req);
    if (refusal) return reply(res, refusal.status, refusal.text, refusal);
    // Node has answered `100 Continue` already (no checkContinue listener): the backend need not.
    delete req.headers.expect;
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
      return replyOnSocket(socket, refusal.status, refusal.text, refusal);
    }
    exchange.attempt = 1;
    this.proxy.ws(req, socket, head, { target: this.targetOf(exchange.backend!), toProxy: true }, (err) => {
      const kind = this.countFailure(exchange, err);
      if (exchange.upgradeStatus === undefined && socket.writable) {
        exchange.upgradeStatus = 502;
        replyOnSocket(socket, 502, `upstream failed (${kind})`);
      }
    });
    // After ws(), which clears the socket's timeout. Reads and writes both count as activity, so
    // one timer on the client's side covers both directions of the tunnel.
    (socket as Socket).setTimeout(this.webSocketIdleTimeoutMs, () => {
      this.log.debug({ route: exchange.route, idleMs: this.webSocketIdleTimeoutMs }, 'websocket idle: closed');
      socket.destroy();
    });
  };

  /**
   * The server's `clientError` listener: a header or request timeout (408), a malformed request
   * (400), headers too large (431). Answers on the raw socket when nothing was sent on it yet,
   * then closes it; counted by kind, and logged in the access line of a request it cut.
   */
  readonly handleClientError = (err: Error & { code?: string }, socket: Duplex): void => {
    const current = this.inFlight.get(socket);
    const kind: ClientErrorKind | undefined =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? current ? 'request_timeout' : 'header_timeout'
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? 'headers_too_large'
          : err.code?.startsWith('HPE_')
            ? 'bad_request'
            : undefined; // the client went away (ECONNRESET…): nothing to tell it
    if (kind) {
      this.options.metrics.observeClientError(kind);
      this.log.debug({ kind, err: err.message, route: current?.exchange.route }, 'client error');
    }
    const status = kind === 'request_timeout' || kind === 'header_timeout' ? 408 : kind === 'headers_too_large' ? 431 : 400;
    const started = current ? current.res.headersSent : (socket as Socket).bytesWritten > 0;
    if (kind && socket.writable && !started) {
      if (current) current.exchange.clientErrorStatus = status;
      replyOnSocket(socket, status, kind === 'bad_request' ? 'bad request' : kind === 'headers_too_large' ? 'request headers too large' : 'request timeout');
    }
    socket.destroy();
  };

  /** Where clients reach this edge's HTTPS: Routes with spec.tls.redirect send plain HTTP there (308). */
  setHttpsPort(port: number): void {
    this.httpsPort = port;
  }

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

  /**
   * Normalises the target and sets the forwarding headers, then fills in route and first backend;
   * or says why the request is refused (the reason with names goes to the access log only).
   */
  private route(exchange: Exchange, req: IncomingMessage): Refusal | undefined {
    const target = normaliseRequestTarget(req.url ?? '/');
    if (!target.ok) {
      exchange.refusal = target.reason;
      return { status: 400, text: `bad request: ${target.reason}` };
    }
    if (target.authority !== undefined) req.headers.host = target.authority;
    // Forwarded as matched: http-proxy-3 sends req.url as it is with toProxy (attempt()).
    req.url = target.path + target.query;
    exchange.path = target.path;
    exchange.host = (req.headers.host ?? '').slice(0, 255);
    const secure = (req.socket as TLSSocket).encrypted === true;
    const proto = setForwardedHeaders(req.headers, req.socket.remoteAddress ?? '', req.headers.host ?? '', this.trusted, secure ? 'https' : 'http');
    const match = this.options.table().match(exchange.host, target.path);
    if (match.kind === 'no-host') return { status: 404, text: `no route for host ${match.host}` };
    if (match.kind === 'no-path') return { status: 404, text: `no route for this path on host ${match.host}` };
    exchange.route = match.entry.route;
    exchange.entry = match.entry;
    if (match.entry.suspended) return { status: 503, text: 'service suspended' };
    // Before the redirect: the limit is on every request for the Route, whatever the answer.
    if (match.entry.rateLimit) {
      const retryAfterSeconds = this.limiter.take(match.entry.route, match.entry.rateLimit);
      if (retryAfterSeconds > 0) {
        exchange.refusal = 'rate limited';
        this.options.metrics.observeRateLimited(match.entry.route);
        return { status: 429, text: 'too many requests', retryAfterSeconds };
      }
    }
    // 308, not 301: the method and body stay as they were (RFC 9110 §15.4.9). A request a trusted
    // load balancer received over HTTPS is not sent round again.
    if (match.entry.httpsRedirect && proto === 'http' && this.httpsPort !== undefined) {
      const host = normaliseHost(exchange.host);
      const location = `https://${host}${this.httpsPort === 443 ? '' : `:${this.httpsPort}`}${req.url}`;
      exchange.refusal = 'redirected to https';
      return { status: 308, text: `moved to ${location}`, location };
    }
    const backend = this.options.balancer.pick(match.entry);
    if (!backend) {
      exchange.refusal = 'no healthy backend';
      return { status: 503, text: 'no healthy backend' };
    }
    exchange.backend = backend;
    return undefined;
  }

  private attempt(req: IncomingMessage, res: ServerResponse, exchange: Exchange, backend: Backend): void {
    const attempt = ++exchange.attempt;
    exchange.backend = backend;
    exchange.tried.add(backendKey(backend));
    // toProxy: forward req.url as route() normalised it (by default http-proxy-3 would re-parse it
    // as a WHATWG URL, which reads a backslash as a slash).
    const options: ServerOptions = { target: this.targetOf(backend), agent: this.agent, toProxy: true };
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
    if (kind === 'timeout') return reply(res, 504, 'upstream timed out');
    reply(res, 502, `upstream failed (${kind})`);
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

  /**
   * Fails an attempt whose backend is silent (no byte either way) for the upstream timeout. A
   * socket timeout, so it holds from connect to the last byte of the response; Node drops the
   * listener when the response ends and the socket returns to the pool.
   */
  private guardSilence(proxyReq: ClientRequest, req: IncomingMessage): void {
    proxyReq.setTimeout(this.upstreamTimeoutMs, () => {
      const exchange = this.exchanges.get(req);
      if (exchange) exchange.upstreamError = 'timeout';
      const err = Object.assign(new Error(`backend silent for ${this.upstreamTimeoutMs} ms`), { code: UPSTREAM_TIMEOUT_CODE });
      proxyReq.destroy(err);
    });
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
    const status = res.headersSent ? res.statusCode : (exchange.clientErrorStatus ?? 499);
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
        ...(exchange.refusal ? { refusal: exchange.refusal } : {}),
        ...(truncated ? { truncated } : {}),
      },
      'request',
    );
  }
}
