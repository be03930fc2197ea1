/**
 * HTTP load for the benchmarks: autocannon in a process of its own (as wrk would be), so it does
 * not share the benchmark's event loop. Over HTTPS it sends SNI; with several hosts each
 * connection goes round them in turn (a Host header per request), so a proxy's host lookup is
 * exercised over the whole list rather than one hot entry.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';

/** What one run measured. */
export interface Load {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** Connection errors, timeouts and non-2xx answers. */
  readonly errors: number;
}

export interface LoadOptions {
  readonly port: number;
  /** Host headers (and SNI names over HTTPS), taken in turn. */
  readonly hosts: readonly string[];
  readonly connections: number;
  readonly seconds: number;
  /** @default false */
  readonly https?: boolean;
}

const RUNNER = `
const autocannon = require(process.argv[1]);
const o = JSON.parse(process.argv[2]);
const requests = o.hosts.length > 1 ? o.hosts.map((host) => ({ method: 'GET', path: '/', headers: { host } })) : undefined;
autocannon({
  url: (o.https ? 'https' : 'http') + '://127.0.0.1:' + o.port + '/',
  connections: o.connections, duration: o.seconds, headers: { host: o.hosts[0] },
  ...(o.https ? { servername: o.hosts[0] } : {}),
  ...(requests ? { requests } : {}),
}, (err, r) => {
  if (err) { console.error(err); process.exit(1); }
  console.log(JSON.stringify({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx }));
});`;

const run = promisify(execFile);

/** Runs one load and resolves with its figures. */
export async function httpLoad(options: LoadOptions): Promise<Load> {
  const autocannon = createRequire(import.meta.url).resolve('autocannon');
  const { stdout } = await run(process.execPath, ['-e', RUNNER, autocannon, JSON.stringify(options)], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as Load;
}
