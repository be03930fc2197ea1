/**
 * The agent's heartbeat, on a thread of its own with a connection of its own. Starting a process
 * blocks the agent's event loop until the child has exec'd — hundreds of milliseconds each on a
 * loaded host — so 200 crash-looping instances froze the loop for 10–20 s at a time: a heartbeat
 * that waited for the loop stopped, the node was declared lost, its instances were stopped and
 * replaced, and the cycle repeated (about 1,200 instances placed for an App of 200 replicas).
 *
 * The thread beats only while the agent's loop shows life now and then (`stallMs`), so a wedged
 * agent still loses its node. Its code is plain JavaScript (an eval worker requiring pg by path):
 * it runs the same from the sources (tsx), from dist/ and inside tests.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { hostName, type NamedQuery, parseDatabaseUrl, SESSION_CHECK_SQL } from '../../framework/index.js';

export interface HeartbeatThreadOptions {
  /** May list several hosts (target_session_attrs=read-write): beats go to the one that takes writes. */
  readonly connectionString: string;
  readonly applicationName: string;
  readonly query: NamedQuery;
  readonly values: readonly unknown[];
  readonly intervalMs: number;
  /** No beat once the agent's loop has been silent this long. @default 60_000 */
  readonly stallMs?: number;
  readonly logger: Logger;
}

export interface HeartbeatThread {
  /** True once a beat went through: the node's row in platform.node_agents exists. */
  readonly beaten: boolean;
  /** Tells the thread the agent's loop is alive (call it every second or so). */
  alive(): void;
  /** Stops beating; resolves once the thread has closed its connection and exited. */
  stop(): Promise<void>;
}

const WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
const pg = require(w.pg);
let stopped = false, lastAlive = Date.now(), wake = () => {}, timer;
// The first host that connects and, unless any will do, is no standby and takes writes (as
// connect-client.ts does; the URL was split by parseDatabaseUrl in the agent).
async function open() {
  let last;
  for (const [i, url] of w.hostUrls.entries()) {
    const c = new pg.Client({ connectionString: url, application_name: w.applicationName, connectionTimeoutMillis: w.connectTimeoutMs });
    c.on('error', () => {});
    try {
      await c.connect();
      if (w.attrs !== 'any') {
        const f = (await c.query(w.checkSql)).rows[0];
        if (f.in_recovery || (w.attrs === 'read-write' && f.read_only === 'on')) throw new Error(w.hostNames[i] + ': takes no writes');
      }
      return c;
    } catch (err) {
      last = err;
      await c.end().catch(() => {});
    }
  }
  throw last;
}
parentPort.on('message', (m) => {
  if (m === 'alive') lastAlive = Date.now();
  else if (m === 'stop') { stopped = true; clearTimeout(timer); wake(); }
});
(async () => {
  let client;
  while (!stopped) {
    let ok = true;
    if (Date.now() - lastAlive <= w.stallMs) {
      try {
        if (!client) client = await open();
        await client.query({ name: w.query.name, text: w.query.text, values: w.values });
        parentPort.postMessage({ ok: true });
      } catch (err) {
        ok = false;
        parentPort.postMessage({ ok: false, error: String((err && err.message) || err) });
        const old = client;
        client = undefined;
        if (old) await old.end().catch(() => {});
      }
    } else {
      parentPort.postMessage({ ok: false, stalled: true });
    }
    if (stopped) break;
    await new Promise((resolve) => { wake = resolve; timer = setTimeout(resolve, ok ? w.intervalMs : Math.min(w.intervalMs, 1000)); });
  }
  if (client) await client.end().catch(() => {});
  parentPort.close(); // else its message listener keeps the thread alive
})();
`;

/** Starts beating at once, then every `intervalMs`. */
export function startHeartbeatThread(options: HeartbeatThreadOptions): HeartbeatThread {
  const { logger } = options;
  const target = parseDatabaseUrl(options.connectionString);
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: {
      pg: createRequire(import.meta.url).resolve('pg'),
      hostUrls: target.hostUrls,
      hostNames: target.hostUrls.map((_, i) => (target.hosts[i] ? hostName(target.hosts[i]) : 'the server')),
      attrs: target.targetSessionAttrs,
      checkSql: SESSION_CHECK_SQL,
      // A host that does not answer at all (a dead machine) must not hold the beats for TCP's minutes.
      connectTimeoutMs: Math.max(2_000, Math.min(options.intervalMs, 10_000)),
      applicationName: options.applicationName,
      query: { name: options.query.name, text: options.query.text },
      values: options.values,
      intervalMs: options.intervalMs,
      stallMs: options.stallMs ?? 60_000,
    },
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  // Logged on each change of state, and each failed beat (about one a second), not each withheld one.
  let state: 'ok' | 'failing' | 'stalled' = 'ok';
  let beaten = false;
  worker.on('message', (m: { ok: boolean; error?: string; stalled?: boolean }) => {
    if (m.ok) beaten = true;
    const next = m.ok ? 'ok' : m.stalled ? 'stalled' : 'failing';
    if (next === 'ok' && state !== 'ok') logger.info('heartbeats resumed');
    if (next === 'stalled' && state !== 'stalled') logger.error({ stallMs: options.stallMs ?? 60_000 }, 'agent loop stalled: heartbeats withheld so the node is seen as lost');
    if (next === 'failing') logger.warn({ err: m.error }, 'heartbeat failed; retrying');
    state = next;
  });
  worker.on('error', (err) => logger.error({ err: err.message }, 'heartbeat thread failed'));
  return {
    get beaten() {
      return beaten;
    },
    alive: () => worker.postMessage('alive'),
    stop: async () => {
      worker.postMessage('stop');
      await exited;
    },
  };
}
