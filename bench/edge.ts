/**
 * `npm run bench:edge [-- --seconds 10 --connections 50 --changes 100 --slow-clients 500 --edge-log-level info --only nginx]`:
 * what the edge costs, how fast it follows the table, and how it compares with nginx.
 *
 * On a private PostgreSQL (embedded, or DATABASE_URL's server), with two backends and `tend edge`
 * each in its own process and autocannon as a third:
 * 1. Throughput: requests/s and p50/p99 latency of a small GET straight to a backend, then through
 *    the edge to the same backend, in the same run (the edge logs one access line per request at
 *    the default level `info`, as in production).
 * 2. Table changes: `--changes` times, switch a route's backend in platform.routing and time from
 *    the UPDATE being sent to the first request the edge serves from the new backend; prints
 *    p50/p99/max (target p99 < 1 s).
 * 3. Slow clients: `--slow-clients` slowloris connections (request headers trickled, one line a
 *    second) held open while the same load runs through the edge; prints that load, and when the
 *    edge cut them (its header timeout is 10 s by default).
 * 4. nginx (`edge-vs-nginx.ts`): the edge and nginx as the same reverse proxy, same backend, same
 *    run — plain HTTP, HTTPS, 10,000 hosts; access log on and off — requests/s, p99 and the
 *    edge/nginx ratios. Needs Debian's nginx (`apt-get install -y nginx-light`); skipped with a
 *    message without it. `--only nginx` runs this part alone.
 * On the 2-core machines here the load generator, the edge and the backend share the cores, so
 * the absolute figures are low; the ratio edge/direct is the figure to watch.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createLogger, frameworkMigrations, migrate, Store } from '../framework/index.js';
import { platformMigrations } from '../migrations/index.js';
import { freePort } from '../test/env/ports.js';
import { startPostgres } from '../test/env/postgres.js';
import { ServerProcess, waitForServer } from '../test/env/server-process.js';
import { startTend } from '../test/env/tend-process.js';
import { compareWithNginx } from './edge-vs-nginx.js';
import { httpLoad, type Load } from './http-load.js';
import { cpuSeconds, rssMb } from './process-stats.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    changes: { type: 'string', default: '100' },
    'slow-clients': { type: 'string', default: '500' },
    'edge-log-level': { type: 'string', default: 'info' },
    only: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const CHANGES = Number(values.changes);
const SLOW_CLIENTS = Number(values['slow-clients']);
const logger = createLogger({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'tend-bench-edge-'));

const BACKEND = `require('node:http').createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(process.env.NAME);
}).listen(Number(process.env.PORT), '127.0.0.1');`;

const setBackends: { name: string; text: string } = {
  name: 'bench.edge_set_route',
  text: `insert into platform.routing (host, path_prefix, route, backends) values ($1, '/', $2, $3::jsonb)
         on conflict (host, path_prefix) do update set backends = excluded.backends, updated_at = now()`,
};

async function startBackend(name: string): Promise<{ process: ServerProcess; port: number }> {
  const port = await freePort();
  const process_ = ServerProcess.start({
    name: `backend ${name}`,
    command: process.execPath,
    args: ['-e', BACKEND],
    env: { ...process.env, NAME: name, PORT: String(port) },
    logFile: join(dir, `backend-${name}.log`),
  });
  await waitForServer(process_, 'an answer', async () => ((await fetch(`http://127.0.0.1:${port}/`)).ok ? true : undefined));
  return { process: process_, port };
}

let edgeStarts = 0;

/** `tend edge` in its own process; with `certificatesKeyFile` also HTTPS. */
async function startEdge(databaseUrl: string, logLevel: string, certificatesKeyFile?: string): Promise<{ process: ServerProcess; port: number; httpsPort: number }> {
  const logFile = join(dir, `edge-${++edgeStarts}.log`);
  const https = certificatesKeyFile ? ['--https-listen', '127.0.0.1:0', '--certificates-key-file', certificatesKeyFile] : [];
  const edge = startTend('tend edge', ['edge', '--listen', '127.0.0.1:0', ...https, '--database-url', databaseUrl, '--state-dir', join(dir, 'edge'), '--log-level', logLevel], logFile);
  const [port, httpsPort] = await waitForServer(edge, 'its listening line', async () => {
    const line = /^tend edge: proxy http:\/\/127\.0\.0\.1:(\d+)(?:, https https:\/\/127\.0\.0\.1:(\d+))?,/m.exec(readFileSync(logFile, 'utf8'));
    return line ? [Number(line[1]), Number(line[2] ?? 0)] : undefined;
  });
  return { process: edge, port, httpsPort };
}

const load = (port: number, host: string): Promise<Load> => httpLoad({ port, hosts: [host], connections: CONNECTIONS, seconds: SECONDS });

/** GET through the edge on a kept-alive connection; resolves with the backend's name. */
function whoAnswers(agent: Agent, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

/** One slowloris client: a header line a second until the edge closes; resolves with how long it held on and whether it got a 408. */
function slowloris(port: number): Promise<{ heldMs: number; got408: boolean }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: load.bench\r\n'));
    let text = '';
    const timer = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 1_000);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.once('close', () => {
      clearInterval(timer);
      resolve({ heldMs: performance.now() - t0, got408: text.startsWith('HTTP/1.1 408') });
    });
    // Never more than a minute, whatever the edge does.
    setTimeout(() => socket.destroy(), 60_000).unref();
  });
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

async function main(): Promise<void> {
  const postgres = await startPostgres(dir, process.env.DATABASE_URL);
  const store = new Store({ connectionString: postgres.databaseUrl, logger });
  const processes: ServerProcess[] = [];
  try {
    await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
    const [blue, green] = await Promise.all([startBackend('blue'), startBackend('green')]);
    processes.push(blue.process, green.process);
    const row = (port: number, name: string) => JSON.stringify([{ address: '127.0.0.1', port, instance: name }]);
    await store.query(setBackends, ['load.bench', 'bench/load', row(blue.port, 'blue')]);
    await store.query(setBackends, ['change.bench', 'bench/change', row(blue.port, 'blue')]);
    const compare = () =>
      compareWithNginx({
        store, dir, backendPort: blue.port, host: 'load.bench', connections: CONNECTIONS, seconds: SECONDS, freePort, edgeWorkers: 1,
        startEdge: async (accessLog, keyFile) => {
          const e = await startEdge(postgres.databaseUrl, accessLog ? 'info' : 'warn', keyFile);
          return { process: e.process, httpPort: e.port, httpsPort: e.httpsPort };
        },
      });
    if (values.only === 'nginx') return await compare();
    const edge = await startEdge(postgres.databaseUrl, values['edge-log-level']!);
    processes.push(edge.process);

    console.log(`edge: ${CONNECTIONS} connections, ${SECONDS} s each, edge log level ${values['edge-log-level']}`);
    await load(blue.port, 'load.bench'); // warm-up: JIT of both servers
    const direct = await load(blue.port, 'load.bench');
    const cpuBefore = cpuSeconds(edge.process.pid!);
    const proxied = await load(edge.port, 'load.bench');
    const edgeCpu = cpuSeconds(edge.process.pid!) - cpuBefore;
    const row2 = (what: string, l: Load) =>
      `  ${what.padEnd(14)} ${l.rps.toFixed(0).padStart(8)} req/s   p50 ${String(l.p50).padStart(4)} ms   p99 ${String(l.p99).padStart(4)} ms   errors ${l.errors}`;
    console.log(row2('direct', direct));
    console.log(row2('through edge', proxied));
    console.log(
      `  edge/direct    ${((proxied.rps / direct.rps) * 100).toFixed(0)} % of the requests/s; edge CPU ${(edgeCpu / SECONDS).toFixed(2)} cores ` +
        `(${((edgeCpu / (proxied.rps * SECONDS)) * 1e6).toFixed(0)} µs a request), peak RSS ${rssMb(edge.process.pid!).toFixed(0)} MiB`,
    );

    if (SLOW_CLIENTS > 0) {
      const slow = Array.from({ length: SLOW_CLIENTS }, () => slowloris(edge.port));
      const underAttack = await load(edge.port, 'load.bench');
      const held = await Promise.all(slow);
      const heldMs = held.map((h) => h.heldMs).sort((a, b) => a - b);
      console.log(row2(`+${SLOW_CLIENTS} slowloris`, underAttack));
      console.log(
        `  slowloris      ${held.filter((h) => h.got408).length} of ${SLOW_CLIENTS} cut with 408 after p50 ${(quantile(heldMs, 0.5) / 1000).toFixed(1)} s, ` +
          `max ${(heldMs.at(-1)! / 1000).toFixed(1)} s (the edge's header timeout: 10 s by default; a client is let go at 60 s)`,
      );
    }

    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const delays: number[] = [];
    let polls = 0;
    for (let i = 1; i <= CHANGES; i++) {
      const [name, port] = i % 2 === 1 ? ['green', green.port] : ['blue', blue.port];
      const t0 = performance.now();
      await store.query(setBackends, ['change.bench', 'bench/change', row(port, name)]);
      for (;;) {
        polls++;
        if ((await whoAnswers(agent, edge.port, 'change.bench')) === name) break;
        if (performance.now() - t0 > 10_000) throw new Error(`change ${i}: the edge still serves the old backend after 10 s`);
      }
      delays.push(performance.now() - t0);
    }
    agent.destroy();
    delays.sort((a, b) => a - b);
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    console.log(
      `route change → first request served by the new table, ${CHANGES} changes: p50 ${ms(quantile(delays, 0.5))}, p99 ${ms(quantile(delays, 0.99))}, ` +
        `max ${ms(delays.at(-1)!)} (target p99 < 1 s; ${(polls / CHANGES).toFixed(1)} requests per change)`,
    );
    await edge.process.stop();
    await compare();
  } finally {
    for (const p of processes) await p.stop();
    await store.close();
    await postgres.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
