import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { runCheckers, type CheckResult, type Checker } from './checker.js';

/** What the health server serves and where. */
export interface HealthServerOptions {
  /** TCP port; 0 picks a free one (read it back from the handle). */
  readonly port: number;
  /**
   * Interface to listen on. In a pod, probes and Prometheus connect to the pod IP: pass `'0.0.0.0'`.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * Checks behind `/healthz`: failing means "restart me" (deadlocked, wedged). Keep them about
   * this process only — a database outage must not restart every replica.
   * @default []
   */
  readonly liveness?: readonly Checker[];
  /**
   * Checks behind `/readyz`: failing means "do not count on me yet" (database unreachable,
   * caches not synced).
   * @default []
   */
  readonly readiness?: readonly Checker[];
  /**
   * Served at `/metrics`; without it `/metrics` is 404.
   * @default none
   */
  readonly metrics?: Registry;
  /**
   * Longest a single check may take before it counts as failed.
   * @default 2_000
   */
  readonly checkTimeoutMs?: number;
  /**
   * Where check failures and recoveries are reported (once per change, not per probe).
   * @default a silent logger
   */
  readonly logger?: Logger;
}

/** A listening health server. */
export interface HealthServer extends AsyncDisposable {
  /** The port actually listened on (useful with `port: 0`). */
  readonly port: number;
  /** Stops listening and drops open connections; idempotent. */
  close(): Promise<void>;
}

interface Endpoint {
  readonly name: 'healthz' | 'readyz';
  readonly checkers: readonly Checker[];
}

const TEXT = 'text/plain; charset=utf-8';

/**
 * Serves `/healthz` (liveness), `/readyz` (readiness) and `/metrics` over node:http. A probe
 * answers 200 `ok`, or 503 listing every check as kube-apiserver does (`[+]name ok`,
 * `[-]name failed: reason`); `?verbose` lists them on success too. Anything else is 404.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const host = options.host ?? '127.0.0.1';
  const timeoutMs = options.checkTimeoutMs ?? 2_000;
  const logger = options.logger ?? pino({ level: 'silent' });
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535) {
    throw new TypeError(`health server: port must be an integer from 0 to 65535, got ${String(options.port)}`);
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    throw new TypeError(`health server: checkTimeoutMs must be a positive whole number of milliseconds, got ${String(timeoutMs)}`);
  }
  const endpoints = new Map<string, Endpoint>([
    ['/healthz', { name: 'healthz', checkers: checkNames('liveness', options.liveness ?? []) }],
    ['/readyz', { name: 'readyz', checkers: checkNames('readiness', options.readiness ?? []) }],
  ]);
  const failing = new Set<string>();

  const report = (endpoint: Endpoint, results: readonly CheckResult[]): void => {
    for (const result of results) {
      const key = `${endpoint.name}/${result.name}`;
      if (!result.ok && !failing.has(key)) {
        failing.add(key);
        logger.warn({ endpoint: endpoint.name, check: result.name, reason: result.reason }, 'health check failing');
      } else if (result.ok && failing.delete(key)) {
        logger.info({ endpoint: endpoint.name, check: result.name }, 'health check recovered');
      }
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://health.invalid');
    const endpoint = endpoints.get(url.pathname);
    if (!endpoint && !(url.pathname === '/metrics' && options.metrics)) return send(res, 404, TEXT, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, TEXT, 'method not allowed\n');
    }
    if (!endpoint) {
      const registry = options.metrics!;
      return send(res, 200, registry.contentType, await registry.metrics());
    }
    const results = await runCheckers(endpoint.checkers, timeoutMs);
    report(endpoint, results);
    const healthy = results.every((r) => r.ok);
    if (healthy && !url.searchParams.has('verbose')) return send(res, 200, TEXT, 'ok');
    const lines = results.map((r) => (r.ok ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.shownReason ?? r.reason}`));
    lines.push(`${endpoint.name} check ${healthy ? 'passed' : 'failed'}`);
    return send(res, healthy ? 200 : 503, TEXT, `${lines.join('\n')}\n`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err: err instanceof Error ? err.message : String(err), path: req.url }, 'health server request failed');
      if (!res.headersSent) send(res, 500, TEXT, 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err: err.message }, 'health server error'));
  const port = (server.address() as AddressInfo).port;
  logger.info({ host, port }, 'health server listening');

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      // Probes and scrapers keep connections alive; close() alone would wait for them to leave.
      server.closeAllConnections();
    });
    return closed;
  };
  return { port, close, [Symbol.asyncDispose]: close };
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}

function checkNames(kind: string, checkers: readonly Checker[]): readonly Checker[] {
  const seen = new Set<string>();
  for (const checker of checkers) {
    // The name is printed after [+]/[-] on its own line; whitespace would break that format.
    if (typeof checker.name !== 'string' || !/^[\w.:/-]+$/.test(checker.name)) {
      throw new TypeError(`health server: ${kind} checker name ${JSON.stringify(checker.name)} must be non-empty, without spaces`);
    }
    if (seen.has(checker.name)) throw new TypeError(`health server: two ${kind} checkers are named ${checker.name}`);
    seen.add(checker.name);
  }
  return [...checkers];
}
