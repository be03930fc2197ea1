import { createHash, randomBytes } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrustedProxies, startEdge, type Edge, type EdgeOptions } from '../../../../agents/edge/index.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';
import { metric, send } from '../../../env/http-request.js';
import { rawConnect, rawRequest } from './raw-socket.js';
import { setRoute } from './routing-rows.js';
import { startBackend, type Echo, type TestBackend } from './test-backend.js';

// The access log (info) is read by one test; everything goes to this stream.
const logLines: Record<string, unknown>[] = [];
const logStream = new PassThrough();
logStream.on('data', (chunk: Buffer) => {
  for (const line of chunk.toString().split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
});
const logger = createLogger({ level: 'info', destination: logStream });
const databases = new FreshDatabases('edge_bad_clients');

// Short limits, so each case takes a fraction of a second; every bound asserted below is far
// under Node's own defaults (60 s for headers, no request or upstream timeout), which a removed
// limit would fall back to.
const HEADER_MS = 400;
const REQUEST_MS = 1_500;
const KEEP_ALIVE_MS = 600;
const UPSTREAM_MS = 500;
const WS_IDLE_MS = 600;
/** How late a timeout may fire on this shared, loaded machine and still count as "at the timeout". */
const SLACK_MS = 4_000;

let url: string;
let store: Store;
let edge: Edge;
const edges: Edge[] = [];
const backends: TestBackend[] = [];
let echo: TestBackend;

const metricsOf = (e: Edge) => `http://127.0.0.1:${e.adminAddress.port}/metrics`;
const echoOf = (body: string) => JSON.parse(body) as Echo;

async function edgeWith(extra: Partial<EdgeOptions>): Promise<Edge> {
  const started = await startEdge({ store, listenUrl: url, logger, listen: { host: '127.0.0.1', port: 0 }, checkMs: 600_000, ...extra });
  edges.push(started);
  return started;
}

async function backend(name: string, handler?: Parameters<typeof startBackend>[1]): Promise<TestBackend> {
  const b = await startBackend(name, handler);
  backends.push(b);
  return b;
}

/** Adds a route and waits until every edge serves its version. */
async function route(host: string, prefix: string, name: string, rows: TestBackend[]): Promise<void> {
  await setRoute(store, host, prefix, name, rows.map((r) => r.row));
  const [row] = await store.query<{ v: string }>({ name: 'test.edge_bad_v', text: 'select version::text as v from platform.routing_version' });
  await eventually(() => edges.every((e) => e.routingVersion() >= BigInt(row!.v)) || undefined);
}

/** Writes `chunk` every `everyMs` until the connection closes. */
function trickle(socket: import('node:net').Socket, chunk: string, everyMs: number): void {
  const timer = setInterval(() => (socket.writable ? socket.write(chunk) : clearInterval(timer)), everyMs);
  socket.once('close', () => clearInterval(timer));
}

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger: createLogger({ level: 'warn' }) });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  echo = await backend('echo');
  edge = await edgeWith({
    limits: { headerTimeoutMs: HEADER_MS, requestTimeoutMs: REQUEST_MS, keepAliveTimeoutMs: KEEP_ALIVE_MS, upstreamTimeoutMs: UPSTREAM_MS, webSocketIdleTimeoutMs: WS_IDLE_MS },
  });
  await route('echo.test', '/', 'ns/echo', [echo]);
});

afterAll(async () => {
  for (const e of edges) await e.stop();
  await Promise.all(backends.map((b) => b.close()));
  await store?.close();
  await databases.dropAll();
});

describe('the edge, against slow clients', () => {
  it('cuts a slowloris client that trickles header lines at the header timeout, with a 408', async () => {
    const before = echo.seen.length;
    const conn = await rawConnect(edge.address.port);
    conn.socket.write('GET / HTTP/1.1\r\nHost: echo.test\r\n');
    trickle(conn.socket, 'X-Slow: 1\r\n', 50);
    const { text, afterMs } = await conn.closed;
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(afterMs).toBeGreaterThanOrEqual(HEADER_MS - 50);
    expect(afterMs).toBeLessThan(HEADER_MS + SLACK_MS);
    expect(echo.seen.length).toBe(before);
    expect(await metric(metricsOf(edge), 'tend_edge_client_errors_total', { kind: 'header_timeout' })).toBeGreaterThanOrEqual(1);
  });

  it('closes a connection that sends nothing at all at the header timeout', async () => {
    const conn = await rawConnect(edge.address.port);
    const { afterMs } = await conn.closed;
    expect(afterMs).toBeLessThan(HEADER_MS + SLACK_MS);
  });

  it('cuts a huge Content-Length trickled a byte at a time at the request timeout, and the backend sees the upload end unfinished', async () => {
    let ended: (how: string) => void;
    const upload = new Promise<string>((resolve) => (ended = resolve));
    const sink = await backend('sink', (req) => {
      req.on('data', () => {});
      req.on('end', () => ended('complete'));
      req.on('close', () => ended(req.complete ? 'complete' : 'cut'));
    });
    await route('upload.test', '/', 'ns/upload', [sink]);
    const conn = await rawConnect(edge.address.port);
    conn.socket.write(`POST /blob HTTP/1.1\r\nHost: upload.test\r\nContent-Length: ${10 ** 12}\r\n\r\n`);
    trickle(conn.socket, 'x', 50);
    const { text, afterMs } = await conn.closed;
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(afterMs).toBeGreaterThanOrEqual(REQUEST_MS - 50);
    expect(afterMs).toBeLessThan(REQUEST_MS + SLACK_MS);
    expect(await upload).toBe('cut');
    expect(await metric(metricsOf(edge), 'tend_edge_client_errors_total', { kind: 'request_timeout' })).toBe(1);
    await eventually(() => expect(logLines.find((l) => l.msg === 'request' && l.host === 'upload.test')).toMatchObject({ status: 408, route: 'ns/upload' }));
  });

  it('closes a kept-alive connection left idle after its response', async () => {
    const conn = await rawConnect(edge.address.port);
    conn.socket.write('GET / HTTP/1.1\r\nHost: echo.test\r\n\r\n');
    await conn.until('"backend":"echo"');
    const answeredAt = performance.now();
    await conn.closed;
    // Node keeps the socket open up to a second past keepAliveTimeout (its own buffer).
    expect(performance.now() - answeredAt).toBeGreaterThanOrEqual(KEEP_ALIVE_MS - 50);
    expect(performance.now() - answeredAt).toBeLessThan(KEEP_ALIVE_MS + SLACK_MS);
  });
});

describe('the edge, against paths a backend would read differently', () => {
  let pub: TestBackend;
  let root: TestBackend;
  beforeAll(async () => {
    pub = await backend('public');
    root = await backend('root');
    await route('paths.test', '/public', 'ns/public', [pub]);
    await route('onlypublic.test', '/public', 'ns/onlypublic', [pub]);
    await route('paths.test', '/', 'ns/root', [root]);
  });

  it('matches /public/../admin as /admin: it never reaches the /public backend', async () => {
    const before = pub.seen.length;
    const viaRoot = await rawRequest(edge.address.port, 'paths.test', '/public/../admin?x=1');
    expect(viaRoot.status).toBe(200);
    expect(echoOf(viaRoot.body)).toMatchObject({ backend: 'root', url: '/admin?x=1' });
    const encoded = await rawRequest(edge.address.port, 'paths.test', '/public/%2e%2e/admin');
    expect(echoOf(encoded.body)).toMatchObject({ backend: 'root', url: '/admin' });
    expect(await rawRequest(edge.address.port, 'onlypublic.test', '/public/../admin')).toEqual({ status: 404, body: 'no route for this path on host onlypublic.test\n' });
    expect(pub.seen.length).toBe(before);
  });

  it('forwards the normalised path it matched', async () => {
    const answer = await rawRequest(edge.address.port, 'paths.test', '/public/./docs/../%7Ereadme');
    expect(echoOf(answer.body)).toMatchObject({ backend: 'public', url: '/public/~readme' });
  });

  it('answers 400 to an encoded slash, a backslash, an encoded NUL and a climb above the root', async () => {
    const before = pub.seen.length + root.seen.length;
    for (const [target, reason] of [
      ['/public%2F..%2Fadmin', 'the path holds an encoded slash or backslash (%2F, %5C)'],
      ['/public/..%5Cadmin', 'the path holds an encoded slash or backslash (%2F, %5C)'],
      ['/public\\..\\admin', 'the path holds a backslash'],
      ['/public/a%00', 'the path holds an encoded NUL (%00)'],
      ['/../admin', 'the path climbs above the root'],
    ] as const) {
      expect(await rawRequest(edge.address.port, 'paths.test', target), target).toEqual({ status: 400, body: `bad request: ${reason}\n` });
    }
    expect(pub.seen.length + root.seen.length).toBe(before);
  });

  it('routes an absolute-form target by its authority, and the backend gets that Host and an origin-form path', async () => {
    const answer = await rawRequest(edge.address.port, 'echo.test', 'http://paths.test/public/x/../y');
    expect(echoOf(answer.body)).toMatchObject({ backend: 'public', url: '/public/y', headers: { host: 'paths.test' } });
  });
});

describe('the edge, against silent backends', () => {
  it('answers 504 when no backend byte comes within the upstream timeout, and does not retry a GET on another backend', async () => {
    const silent = [await backend('silent-1', () => {}), await backend('silent-2', () => {})];
    await route('silent.test', '/', 'ns/silent', silent);
    const startedAt = performance.now();
    const answer = await send(edge.address.port, 'silent.test', '/');
    expect(answer).toMatchObject({ status: 504, body: 'upstream timed out\n' });
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(UPSTREAM_MS - 50);
    expect(performance.now() - startedAt).toBeLessThan(UPSTREAM_MS + SLACK_MS);
    expect(silent[0]!.seen.length + silent[1]!.seen.length).toBe(1);
    expect(await metric(metricsOf(edge), 'tend_edge_upstream_errors_total', { route: 'ns/silent', kind: 'timeout' })).toBe(1);
  });

  it('cuts a response whose backend goes silent half-way', async () => {
    const stalls = await backend('stalls', (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('half');
    });
    await route('stalls.test', '/', 'ns/stalls', [stalls]);
    const outcome = await new Promise<{ body: string; complete: boolean }>((resolve, reject) => {
      request({ host: '127.0.0.1', port: edge.address.port, path: '/', headers: { host: 'stalls.test' }, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('error', () => {}); // "aborted": expected
        res.on('close', () => resolve({ body, complete: res.complete }));
      })
        .on('error', reject)
        .end();
    });
    expect(outcome).toEqual({ body: 'half', complete: false });
    expect(await metric(metricsOf(edge), 'tend_edge_upstream_errors_total', { route: 'ns/stalls', kind: 'timeout' })).toBe(1);
  });

  it('lets a slow backend answer that sends a byte within each upstream timeout', async () => {
    const dripping = await backend('dripping', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const timer = setInterval(() => (++n < 5 ? res.write(`${n}`) : (clearInterval(timer), res.end('.'))), UPSTREAM_MS / 3);
    });
    await route('drip.test', '/', 'ns/drip', [dripping]);
    expect(await send(edge.address.port, 'drip.test', '/')).toMatchObject({ status: 200, body: '1234.' });
  });
});

describe('the edge, with WebSockets', () => {
  async function openTunnel(): Promise<import('node:stream').Duplex> {
    const key = randomBytes(16).toString('base64');
    const { res, socket } = await new Promise<{ res: IncomingMessage; socket: import('node:stream').Duplex }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: edge.address.port,
        path: '/ws',
        headers: { host: 'echo.test', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13' },
      });
      req.on('upgrade', (r, s) => resolve({ res: r, socket: s }));
      req.on('response', (r) => reject(new Error(`no upgrade: ${r.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    expect(res.headers['sec-websocket-accept']).toBe(createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64'));
    return socket;
  }

  it('keeps a tunnel with traffic open past the idle timeout and closes it once idle', async () => {
    const socket = await openTunnel();
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
    let echoed = 0;
    socket.on('data', (chunk: Buffer) => (echoed += chunk.length));
    // Traffic for three idle periods: the tunnel must survive it.
    const busyUntil = performance.now() + 3 * WS_IDLE_MS;
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer), reject(new Error('tunnel closed while in use'));
        if (performance.now() > busyUntil) return clearInterval(timer), resolve();
        socket.write('ping');
      }, WS_IDLE_MS / 4);
    });
    await eventually(() => expect(echoed).toBeGreaterThan(0));
    const idleFrom = performance.now();
    const closedAt = await closed;
    expect(closedAt - idleFrom).toBeLessThan(WS_IDLE_MS + SLACK_MS);
  });
});

describe('the edge, at its connection cap', () => {
  it('closes connections past --max-connections on accept and takes new ones once others go', async () => {
    const capped = await edgeWith({ limits: { maxConnections: 2 } });
    const held = [await rawConnect(capped.address.port), await rawConnect(capped.address.port)];
    for (const conn of held) {
      conn.socket.write('GET / HTTP/1.1\r\nHost: echo.test\r\n\r\n');
      await conn.until('"backend":"echo"');
    }
    const third = await rawConnect(capped.address.port);
    third.socket.write('GET / HTTP/1.1\r\nHost: echo.test\r\n\r\n');
    expect((await third.closed).text).toBe('');
    expect(await metric(metricsOf(capped), 'tend_edge_connections_dropped_total')).toBe(1);
    // Those held still work.
    held[0]!.socket.write('GET /again HTTP/1.1\r\nHost: echo.test\r\n\r\n');
    await held[0]!.until('"url":"/again"');
    held[1]!.socket.destroy();
    await eventually(async () => expect((await send(capped.address.port, 'echo.test', '/')).status).toBe(200));
    held[0]!.socket.destroy();
  });
});

describe('the edge, as the first hop', () => {
  const spoof = {
    'x-forwarded-for': '10.0.0.1',
    'x-real-ip': '10.0.0.1',
    forwarded: 'for=10.0.0.1;proto=https',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'admin.internal',
  };

  it('replaces forwarding headers a client sent with its own', async () => {
    const seen = echoOf((await send(edge.address.port, 'echo.test', '/', { headers: spoof })).body).headers;
    expect(seen).toMatchObject({
      'x-forwarded-for': '127.0.0.1',
      'x-real-ip': '127.0.0.1',
      forwarded: 'for=127.0.0.1;host=echo.test;proto=http',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'echo.test',
    });
  });

  it('keeps and extends the chain of a trusted proxy', async () => {
    const behindProxy = await edgeWith({ trustedProxies: TrustedProxies.parse(['127.0.0.0/8']) });
    const seen = echoOf((await send(behindProxy.address.port, 'echo.test', '/', { headers: spoof })).body).headers;
    expect(seen).toMatchObject({
      'x-forwarded-for': '10.0.0.1, 127.0.0.1',
      'x-real-ip': '10.0.0.1',
      forwarded: 'for=10.0.0.1;proto=https, for=127.0.0.1;host=echo.test;proto=http',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'admin.internal',
    });
  });
});

describe('the edge, on its own pages', () => {
  it('names no namespace or Route in a page; the access log has them', async () => {
    await route('nobody.test', '/', 'secret-ns/secret-route', []);
    const answer = await send(edge.address.port, 'nobody.test', '/');
    expect(answer).toMatchObject({ status: 503, body: 'no healthy backend\n' });
    expect(answer.body).not.toContain('secret');
    await eventually(() =>
      expect(logLines.find((l) => l.msg === 'request' && l.host === 'nobody.test')).toMatchObject({ status: 503, route: 'secret-ns/secret-route', refusal: 'no healthy backend' }),
    );
  });
});
