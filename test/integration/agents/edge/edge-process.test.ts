import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { FreshDatabases } from '../../../env/fresh-database.js';
import { ServerProcess, waitForServer } from '../../../env/server-process.js';
import { startTend } from '../../../env/tend-process.js';
import { send } from '../../../env/http-request.js';
import { setRoute } from './routing-rows.js';
import { startBackend, type Echo, type TestBackend } from './test-backend.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('edge_process');
const dir = mkdtempSync(join(tmpdir(), 'tend-edge-'));
const MiB = 2 ** 20;
// Big enough to tell buffering from garbage-collector slack: passing 2 × 50 MiB grows a streaming
// edge's peak RSS by about 40 MiB of not-yet-collected chunks, 2 × 200 MiB by about 50 MiB.
const BIG = 200 * MiB;
let url: string;
let store: Store;
let echo: TestBackend;
let bulk: TestBackend;
let slow: TestBackend;
let releaseSlow!: () => void;
const backends: TestBackend[] = [];

interface RunningEdge {
  readonly process: ServerProcess;
  readonly port: number;
}
let edge: RunningEdge;
let starts = 0;

/** `tend edge` as its own process, on free ports it prints. */
async function startEdgeProcess(): Promise<RunningEdge> {
  const logFile = join(dir, `edge-${++starts}.log`);
  const process = startTend('tend edge', ['edge', '--listen', '127.0.0.1:0', '--database-url', url, '--state-dir', join(dir, `edge-${starts}`), '--log-level', 'warn', '--drain-ms', '20000'], logFile);
  const port = await waitForServer(process, 'its listening line', async () => {
    const line = /^tend edge: proxy http:\/\/127\.0\.0\.1:(\d+), admin http:\/\/127\.0\.0\.1:\d+$/m.exec(readFileSync(logFile, 'utf8'));
    return line ? Number(line[1]) : undefined;
  });
  return { process, port };
}

/** Peak and current resident memory of a process, in MiB. */
function memoryMiB(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  return { peak: kb('VmHWM'), now: kb('VmRSS') };
}

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  echo = await startBackend('echo');
  // BIG bytes down, or counts what comes up; in 64 KiB writes that respect backpressure.
  bulk = await startBackend('bulk', (req, res) => {
    if (req.method === 'POST') {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => res.end(String(bytes)));
      return;
    }
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    res.writeHead(200, { 'content-length': String(BIG) });
    const pump = () => {
      while (sent < BIG) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const released = new Promise<void>((resolve) => (releaseSlow = resolve));
  slow = await startBackend('slow', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('started;');
    void released.then(() => res.end('finished'));
  });
  backends.push(echo, bulk, slow);
  await setRoute(store, 'echo.test', '/', 'ns/echo', [echo.row]);
  await setRoute(store, 'bulk.test', '/', 'ns/bulk', [bulk.row]);
  await setRoute(store, 'slow.test', '/', 'ns/slow', [slow.row]);
  edge = await startEdgeProcess();
});

afterAll(async () => {
  await edge?.process.kill();
  await Promise.all(backends.map((b) => b.close()));
  await store?.close();
  await databases.dropAll();
});

describe('tend edge as a process', () => {
  it('streams 200 MiB each way while its memory grows by less than half of one body', async () => {
    expect((await send(edge.port, 'bulk.test', '/', { method: 'POST', body: 'warm-up' })).body).toBe('7');
    const before = memoryMiB(edge.process.pid!);
    const down = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: edge.port, path: '/', headers: { host: 'bulk.test' }, agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => resolve(bytes));
      }).on('error', reject).end();
    });
    const up = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: edge.port, method: 'POST', path: '/', headers: { host: 'bulk.test', 'content-length': String(BIG) }, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 3);
      let sent = 0;
      const pump = () => {
        while (sent < BIG) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    const after = memoryMiB(edge.process.pid!);
    expect(down).toBe(BIG);
    expect(up).toBe(String(BIG));
    // Holding either body whole would add 200 MiB or more to the edge's peak.
    expect(after.peak - before.peak, `edge peak RSS ${before.peak.toFixed(0)} → ${after.peak.toFixed(0)} MiB`).toBeLessThan(BIG / MiB / 2);
  });

  it('serves the same table after a restart, from PostgreSQL alone', async () => {
    const first = JSON.parse((await send(edge.port, 'echo.test', '/a')).body) as Echo;
    expect(first.backend).toBe('echo');
    const exit = await edge.process.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    edge = await startEdgeProcess();
    const again = await send(edge.port, 'echo.test', '/a');
    expect(again.status).toBe(200);
    expect((JSON.parse(again.body) as Echo).backend).toBe('echo');
    expect((await send(edge.port, 'nowhere.test', '/')).status).toBe(404);
  });

  it('finishes a request in flight on SIGTERM, refusing new connections meanwhile, and exits 0', async () => {
    const requests = slow.seen.length;
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port: edge.port, path: '/', headers: { host: 'slow.test' }, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject).end();
    });
    await waitForServer(edge.process, 'the slow request at the backend', async () => (slow.seen.length > requests ? true : undefined));
    const exited = edge.process.stop(30_000);
    await waitForServer(edge.process, 'new connections refused', () => refused(edge.port), 15_000);
    expect(edge.process.running).toBe(true);
    releaseSlow();
    expect(await answer).toEqual({ status: 200, body: 'started;finished' });
    expect(await exited).toEqual({ code: 0, signal: null });
  });
});

/** Resolves true once a TCP connection to `port` is refused. */
function refused(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', () => resolve(true));
  });
}
