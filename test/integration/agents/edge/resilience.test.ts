import { createHash, randomBytes } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, type Edge } from '../../../../agents/edge/index.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';
import { freePort } from '../../../env/ports.js';
import { metric, send } from '../../../env/http-request.js';
import { setRoute } from './routing-rows.js';
import { startBackend, type Echo, type TestBackend } from './test-backend.js';

// Ejections are logged at warn, and these tests eject on purpose.
const logger = createLogger({ level: 'error' });
const databases = new FreshDatabases('edge_resilience');
let url: string;
let store: Store;
let edge: Edge;
let alive: TestBackend;
const backends: TestBackend[] = [];

/** A backend row whose port nobody listens on: connecting is refused. */
const dead = async (name: string) => ({ address: '127.0.0.1', port: await freePort(), instance: name });
const metricsUrl = () => `http://127.0.0.1:${edge.adminAddress.port}/metrics`;

/** Adds a route and waits until the edge serves it (any answer but 404). */
async function route(host: string, name: string, rows: Parameters<typeof setRoute>[4]): Promise<void> {
  await setRoute(store, host, '/', name, rows);
  await eventually(async () => expect(edge.routingVersion()).toBeGreaterThanOrEqual((await currentVersion())));
}
const currentVersion = async () => BigInt((await store.query<{ v: string }>({ name: 'test.edge_v', text: 'select version::text as v from platform.routing_version' }))[0]!.v);

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  alive = await startBackend('alive');
  backends.push(alive);
  edge = await startEdge({ store, listenUrl: url, logger, listen: { host: '127.0.0.1', port: 0 }, checkMs: 600_000, ejectMs: 60_000 });
});

afterAll(async () => {
  await edge?.stop();
  await Promise.all(backends.map((b) => b.close()));
  await store?.close();
  await databases.dropAll();
});

describe('the edge, when a backend refuses connections', () => {
  it('ejects it and retries a GET on another backend, so the client sees no error', async () => {
    // The dead backend is first: a new table starts its rotation there.
    await route('retry.test', 'ns/retry', [await dead('gone'), alive.row]);
    const before = alive.seen.length;
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await send(edge.address.port, 'retry.test', '/')).status);
    expect(statuses).toEqual(Array(10).fill(200));
    expect(alive.seen.length - before).toBe(10);
    // Tried once, then out of rotation: without ejection every other request would try it again.
    expect(await metric(metricsUrl(), 'tend_edge_upstream_errors_total', { route: 'ns/retry', kind: 'refused' })).toBe(1);
  });

  it('does not retry a POST and answers 502', async () => {
    await route('post.test', 'ns/post', [await dead('gone-too'), alive.row]);
    const before = alive.seen.length;
    const answer = await send(edge.address.port, 'post.test', '/orders', { method: 'POST', body: '{"order":1}', headers: { 'content-type': 'application/json' } });
    expect(answer).toMatchObject({ status: 502, body: 'upstream failed (refused)\n' });
    expect(alive.seen.length).toBe(before);
  });

  it('answers 503 once every backend of a route is ejected', async () => {
    await route('alldead.test', 'ns/alldead', [await dead('a')]);
    expect((await send(edge.address.port, 'alldead.test', '/')).status).toBe(502);
    expect(await send(edge.address.port, 'alldead.test', '/')).toMatchObject({ status: 503, body: 'no healthy backend\n' });
  });
});

describe('the edge, when a backend dies mid-response', () => {
  it('cuts the client off instead of leaving it waiting, and counts a reset', async () => {
    const dying = await startBackend('dying', (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial', () => res.socket?.destroy());
    });
    backends.push(dying);
    await route('dying.test', 'ns/dying', [dying.row]);
    const outcome = new Promise<{ body: string; complete: boolean }>((resolve, reject) => {
      request({ host: '127.0.0.1', port: edge.address.port, path: '/', headers: { host: 'dying.test' }, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('error', () => {}); // "aborted": expected here
        res.on('close', () => resolve({ body, complete: res.complete }));
      }).on('error', reject).end();
    });
    expect(await within(outcome, 10_000, 'the client connection to close')).toEqual({ body: 'partial', complete: false });
    expect(await metric(metricsUrl(), 'tend_edge_upstream_errors_total', { route: 'ns/dying', kind: 'reset' })).toBe(1);
  });
});

describe('the edge, passing traffic through', () => {
  it('tunnels a WebSocket upgrade both ways', async () => {
    await route('ws.test', 'ns/ws', [alive.row]);
    const key = randomBytes(16).toString('base64');
    const { res, socket } = await new Promise<{ res: IncomingMessage; socket: Duplex }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: edge.address.port,
        path: '/chat',
        headers: { host: 'ws.test', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13' },
      });
      req.on('upgrade', (r, s) => resolve({ res: r, socket: s }));
      req.on('response', (r) => reject(new Error(`no upgrade: ${r.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    try {
      expect(res.statusCode).toBe(101);
      expect(res.headers['sec-websocket-accept']).toBe(createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64'));
      const upgrade = alive.seen.at(-1)!;
      expect(upgrade.headers).toMatchObject({ upgrade: 'websocket', 'x-forwarded-host': 'ws.test', 'x-forwarded-for': '127.0.0.1' });
      const echoed = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.length >= 10) resolve(text);
        });
      });
      socket.write('ping-pong!');
      expect(await within(echoed, 10_000, 'echo through the tunnel')).toBe('ping-pong!');
    } finally {
      socket.destroy();
    }
  });

  it('streams a response: the first bytes reach the client before the backend has finished', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const slow = await startBackend('slow-download', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk;');
      void released.then(() => res.end('the rest'));
    });
    backends.push(slow);
    await route('download.test', 'ns/download', [slow.row]);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      request({ host: '127.0.0.1', port: edge.address.port, path: '/', headers: { host: 'download.test' }, agent: false }, resolve).on('error', reject).end();
    });
    let text = '';
    const firstChunk = new Promise<void>((resolve) => res.on('data', (chunk: Buffer) => ((text += chunk.toString()), resolve())));
    const ended = new Promise<void>((resolve) => res.on('end', resolve));
    // A buffering edge would hold "first chunk;" until the end, which only comes after release().
    await within(firstChunk, 10_000, 'the first chunk');
    expect(text).toBe('first chunk;');
    release();
    await within(ended, 10_000, 'the end of the response');
    expect(text).toBe('first chunk;the rest');
  });

  it('streams a request body: the backend reads the first bytes before the client has sent the rest', async () => {
    let firstArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (firstArrived = resolve));
    const reader = await startBackend('slow-upload', (req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        firstArrived();
      });
      req.on('end', () => res.end(String(bytes)));
    });
    backends.push(reader);
    await route('upload.test', 'ns/upload', [reader.row]);
    const answer = new Promise<string>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: edge.address.port, method: 'PUT', path: '/blob', headers: { host: 'upload.test', 'transfer-encoding': 'chunked' }, agent: false },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.write(Buffer.alloc(1000, 1));
      // A buffering edge would wait for the end of the body, which only comes after `arrived`.
      void within(arrived, 10_000, 'the first bytes at the backend').then(
        () => req.end(Buffer.alloc(500, 2)),
        (err: Error) => req.destroy(err),
      );
    });
    expect(await within(answer, 15_000, 'the answer')).toBe('1500');
  });

  it('keeps the ejection of a backend across a table change', async () => {
    const gone = await dead('gone-again');
    await route('keep.test', 'ns/keep', [gone, alive.row]);
    expect((await send(edge.address.port, 'keep.test', '/')).status).toBe(200);
    const errors = () => metric(metricsUrl(), 'tend_edge_upstream_errors_total', { route: 'ns/keep2', kind: 'refused' });
    await route('keep.test', 'ns/keep2', [gone, alive.row]);
    expect(echo((await send(edge.address.port, 'keep.test', '/')).body).backend).toBe('alive');
    expect(await errors()).toBe(0);
  });
});

const echo = (body: string) => JSON.parse(body) as Echo;
