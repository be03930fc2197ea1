/**
 * `npm run bench:crash-loop [-- --instances 40 --seconds 20 --health-check]`: what crash-looping
 * instances cost the control plane. An embedded PostgreSQL, the controllers in this process
 * (PostgreSQL backend), one `tend agent` process (crash backoff 100 ms, doubling), and an App of
 * `--instances` replicas whose process exits 50 ms after it starts. Without a health check each
 * is ready while it runs, so the App turns Available and back at every crash; `--health-check`
 * gives it one that never passes, as a process that crashes before it serves.
 *
 * Over `--seconds` once every instance has crashed once: instance restarts, rows the agent wrote
 * (pg_stat n_tup_upd of platform.instances) and reconciles of the Node, App and Route controllers
 * (controller_runtime_reconcile_total) and writes of the App (its events in tend.resource_events),
 * each per second and per restart. A restart changes the App's status (restarts, last exit); it
 * changes nothing a Node reports.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runApply } from '../cli/apply.js';
import type { CliIo } from '../cli/io.js';
import { buildPlatform } from '../controllers/platform.js';
import { freePort } from '../agents/node/free-port.js';
import { createLogger, frameworkMigrations, migrate, Store } from '../framework/index.js';
import { platformMigrations } from '../migrations/index.js';
import { startPostgres } from '../test/env/postgres.js';
import { startTend } from '../test/env/tend-process.js';

const { values } = parseArgs({ options: { instances: { type: 'string', default: '40' }, seconds: { type: 'string', default: '20' }, 'health-check': { type: 'boolean', default: false } } });
const instances = Number(values.instances);
const seconds = Number(values.seconds);

const dir = mkdtempSync(join(tmpdir(), 'tend-bench-crash-'));
const postgres = await startPostgres(dir);
const logger = createLogger({ level: 'warn' });
const store = new Store({ connectionString: postgres.databaseUrl, logger });
await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
const metricsPort = await freePort();
const stop = new AbortController();
const running = buildPlatform({ store, logger, replica: 'bench', membership: false, healthPort: metricsPort, healthHost: '127.0.0.1', cluster: { heartbeatMs: 1_000 } }).start(stop.signal);
const agent = startTend('agent', ['agent', '--node', 'n1', '--database-url', postgres.databaseUrl, '--state-dir', join(dir, 'agent'), '--heartbeat-ms', '1000', '--crash-backoff-ms', '100', '--log-level', 'warn'], join(dir, 'agent.log'));

const io: CliIo = { out: () => {}, err: (l) => console.error(l), readStdin: () => '' };
const yaml = join(dir, 'crash.yaml');
writeFileSync(yaml, `apiVersion: tend.dev/v1alpha1
kind: Tenant
metadata: { name: bench }
spec: { namespaces: [default], allowedHostnames: ["*.bench.test"] }
---
apiVersion: tend.dev/v1alpha1
kind: Node
metadata: { name: n1 }
spec: { address: 127.0.0.1, capacity: { cpu: "64", memory: 64Gi, disk: 10Gi } }
---
apiVersion: tend.dev/v1alpha1
kind: App
metadata: { name: crash, namespace: default }
spec:
  replicas: ${instances}
  command: [${JSON.stringify(process.execPath)}, -e, "setTimeout(() => process.exit(1), 50)"]
  resources: { memory: 32Mi, cpu: 10m }${values['health-check'] ? '\n  healthCheck: { httpGet: { path: /healthz }, periodSeconds: 1 }' : ''}
---
apiVersion: tend.dev/v1alpha1
kind: Route
metadata: { name: crash, namespace: default }
spec: { host: crash.bench.test, app: crash }
`);

interface Sample { at: number; restarts: number; updates: number; appWrites: number; reconciles: Record<string, number> }

async function sampleNow(): Promise<Sample> {
  // pg_stat counters reach the views when a backend reports them: ask for a fresh snapshot.
  const [row] = await store.query<{ restarts: number; updates: number; appWrites: number }>({
    name: 'bench.crash_sample',
    text: `select (select coalesce(sum(restarts), 0)::int from platform.instances) as restarts,
                  (select n_tup_upd::int from pg_stat_user_tables where schemaname = 'platform' and relname = 'instances') as updates,
                  (select count(*)::int from tend.resource_events where plural = 'apps') as "appWrites"`,
  });
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const reconciles: Record<string, number> = {};
  for (const [, controller, n] of text.matchAll(/^controller_runtime_reconcile_total\{controller="([^"]+)",result="[^"]+"\} (\S+)$/gm)) {
    reconciles[controller!] = (reconciles[controller!] ?? 0) + Number(n);
  }
  return { at: Date.now(), restarts: row!.restarts, updates: row!.updates, appWrites: row!.appWrites, reconciles };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench:crash-loop: ${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

try {
  if ((await runApply(['-f', yaml, '--database-url', postgres.databaseUrl], io, {})) !== 0) throw new Error('apply failed');
  await until(`${instances} instances each restarted once`, async () => {
    const [row] = await store.query<{ n: number }>({ name: 'bench.crashed', text: `select count(*)::int as n from platform.instances where restarts >= 1` });
    return row!.n >= instances;
  });
  const a = await sampleNow();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  await store.query({ name: 'bench.stat_flush', text: 'select pg_sleep(1)' }); // let the last counters land
  const b = await sampleNow();
  const elapsed = (b.at - a.at) / 1000;
  const restarts = b.restarts - a.restarts;
  // Restarts are the runtime's: the App places `instances` once and never replaces a crashing one.
  const [placed] = await store.query<{ n: number; inserted: number }>({
    name: 'bench.placed',
    text: `select (select count(*)::int from platform.instances) as n,
                  (select n_tup_ins::int from pg_stat_user_tables where schemaname = 'platform' and relname = 'instances') as inserted`,
  });
  console.log(`bench:crash-loop — ${instances} crash-looping instances (exit 50 ms after start, backoff 100 ms doubling${values['health-check'] ? ', never healthy' : ''}), ${elapsed.toFixed(1)} s measured; ${placed!.n} instances placed, ${placed!.inserted} ever inserted`);
  console.log('                                per s   per restart');
  const row = (name: string, n: number) => console.log(`${name.padEnd(30)} ${(n / elapsed).toFixed(1).padStart(7)} ${restarts ? (n / restarts).toFixed(2).padStart(13) : '            –'}`);
  row('instance restarts', restarts);
  row('instance rows written', b.updates - a.updates);
  for (const controller of ['node', 'app', 'route']) row(`${controller} reconciles`, (b.reconciles[controller] ?? 0) - (a.reconciles[controller] ?? 0));
  row('App status writes', b.appWrites - a.appWrites);
} finally {
  await agent.stop();
  stop.abort();
  await running;
  await store.close();
  await postgres.stop();
  rmSync(dir, { recursive: true, force: true });
}
