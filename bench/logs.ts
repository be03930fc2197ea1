/**
 * `npm run bench:logs [-- --instances 100 --lines-per-second 10 --seconds 60 --keep-bytes 8192 --ship-ms 500]`:
 * what shipping instance logs into PostgreSQL costs in writes. An embedded PostgreSQL, the
 * controllers in this process (PostgreSQL backend), one `tend agent` process with its own node
 * login, and an App of `--instances` replicas, each a perl loop printing `--lines-per-second`
 * lines of 100 bytes.
 *
 * First the idle platform's WAL for 10 s (the baseline), then, once every instance has shipped a
 * line and a warm-up has passed, over `--seconds`: rows inserted and deleted in
 * platform.instance_logs, bytes and lines stored, WAL written (pg_current_wal_lsn), each per
 * second, and the table's size. `--keep-bytes` is the agent's --log-keep-bytes: the default here
 * is small so that pruning runs during the measurement, as it does in the long run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runApply } from '../cli/apply.js';
import { runDelete } from '../cli/delete.js';
import type { CliIo } from '../cli/io.js';
import { buildPlatform } from '../controllers/platform.js';
import { createLogger, frameworkMigrations, migrate, Store } from '../framework/index.js';
import { platformMigrations } from '../migrations/index.js';
import { enrolledCredentials } from '../test/env/enroll.js';
import { startPostgres } from '../test/env/postgres.js';
import { startTend } from '../test/env/tend-process.js';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '100' },
    'lines-per-second': { type: 'string', default: '10' },
    seconds: { type: 'string', default: '60' },
    'keep-bytes': { type: 'string', default: '8192' },
    'ship-ms': { type: 'string', default: '500' },
  },
});
const instances = Number(values.instances);
const linesPerSecond = Number(values['lines-per-second']);
const seconds = Number(values.seconds);
const keepBytes = Number(values['keep-bytes']);
const shipMs = Number(values['ship-ms']);
const LINE_BYTES = 100;

const dir = mkdtempSync(join(tmpdir(), 'tend-bench-logs-'));
const postgres = await startPostgres(dir);
const logger = createLogger({ level: 'error' }); // pg_sleep(1) below would be a slow-query warning
const store = new Store({ connectionString: postgres.databaseUrl, logger });
await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
const stop = new AbortController();
const running = buildPlatform({ store, logger, replica: 'bench', membership: false, cluster: { heartbeatMs: 5_000, allowUnisolatedNodes: true } }).start(stop.signal);
const io: CliIo = { out: () => {}, err: (l) => console.error(l), readStdin: () => '' };

// A request log line of exactly LINE_BYTES bytes, newline included.
const perl = `$| = 1; my $n = 0; my $id = $ENV{TEND_INSTANCE};
while (1) { my $line = sprintf("%s INFO request handled method=GET path=/api/items/%08d status=200 id=%s", scalar(gmtime()), ++$n, $id);
  print substr($line . (" " x ${LINE_BYTES}), 0, ${LINE_BYTES - 1}), "\\n"; select(undef, undef, undef, ${1 / linesPerSecond}); }`;
const yaml = join(dir, 'logs.yaml');
writeFileSync(yaml, `apiVersion: tend.dev/v1alpha1
kind: Tenant
metadata: { name: bench }
spec: { namespaces: [default], allowedHostnames: ["*.bench.test"] }
---
apiVersion: tend.dev/v1alpha1
kind: Node
metadata: { name: n1 }
spec: { address: 127.0.0.1, capacity: { cpu: "64", memory: 64Gi, disk: 10Gi } }
`);
const appYaml = join(dir, 'app.yaml');
writeFileSync(appYaml, `apiVersion: tend.dev/v1alpha1
kind: App
metadata: { name: printer, namespace: default }
spec:
  replicas: ${instances}
  command: [perl, -e, ${JSON.stringify(perl)}]
  resources: { memory: 16Mi, cpu: 10m }
`);

interface Sample { at: number; lsn: string; lastId: number; inserted: number; deleted: number }

async function sample(): Promise<Sample> {
  // pg_stat counters reach the views when a backend reports them: give them a moment.
  await store.query({ name: 'bench.stat_flush', text: 'select pg_sleep(1)' });
  const [row] = await store.query<{ lsn: string; lastId: number; inserted: number; deleted: number }>({
    name: 'bench.logs_sample',
    text: `select pg_current_wal_lsn()::text as lsn,
                  (select coalesce(max(id), 0)::float8 from platform.instance_logs) as "lastId",
                  (select n_tup_ins::float8 from pg_stat_user_tables where schemaname = 'platform' and relname = 'instance_logs') as inserted,
                  (select n_tup_del::float8 from pg_stat_user_tables where schemaname = 'platform' and relname = 'instance_logs') as deleted`,
  });
  return { at: Date.now(), ...row! };
}

async function walBetween(a: Sample, b: Sample): Promise<number> {
  const [row] = await store.query<{ bytes: number }>({ name: 'bench.wal_diff', text: 'select pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::float8 as bytes' }, [a.lsn, b.lsn]);
  return row!.bytes;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench:logs: ${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let agent: ReturnType<typeof startTend> | undefined;
try {
  if ((await runApply(['-f', yaml, '--database-url', postgres.databaseUrl], io, {})) !== 0) throw new Error('apply failed');
  const credentials = await enrolledCredentials(postgres.databaseUrl, 'node', 'n1', dir);
  agent = startTend('agent', ['agent', '--node', 'n1', '--credentials-file', credentials, '--state-dir', join(dir, 'agent'), '--sandbox', 'off', '--log-keep-bytes', String(keepBytes), '--log-ship-ms', String(shipMs), '--log-level', 'warn'], join(dir, 'agent.log'));
  await until('node n1 schedulable', async () => (await store.query<{ n: number }>({ name: 'bench.node', text: `select count(*)::int as n from platform.nodes n join platform.node_agents a on a.node = n.name where n.state = 'ready'` }))[0]!.n === 1);
  await wait(2_000);
  const idleA = await sample();
  await wait(10_000);
  const idleB = await sample();
  const idleWal = (await walBetween(idleA, idleB)) / ((idleB.at - idleA.at) / 1000);

  if ((await runApply(['-f', appYaml, '--database-url', postgres.databaseUrl], io, {})) !== 0) throw new Error('apply failed');
  await until(`${instances} instances shipping lines`, async () => {
    const [row] = await store.query<{ n: number }>({ name: 'bench.shipping', text: `select count(distinct instance)::int as n from platform.instance_logs where bytes > 0` });
    return row!.n >= instances;
  });
  await wait(Math.max(15_000, ((2 * keepBytes) / (linesPerSecond * LINE_BYTES)) * 1000)); // warm-up: pruning under way
  const a = await sample();
  await wait(seconds * 1000);
  const b = await sample();
  const elapsed = (b.at - a.at) / 1000;
  const wal = await walBetween(a, b);
  const [stored] = await store.query<{ rows: number; bytes: number; lines: number }>({
    name: 'bench.window_rows',
    text: `select count(*)::float8 as rows, coalesce(sum(bytes), 0)::float8 as bytes, coalesce(sum(line_count), 0)::float8 as lines
           from platform.instance_logs where id > $1 and id <= $2 and bytes > 0`,
  }, [a.lastId, b.lastId]);
  const [size] = await store.query<{ bytes: number; rows: number }>({
    name: 'bench.table_size',
    text: `select pg_total_relation_size('platform.instance_logs')::float8 as bytes, (select count(*)::float8 from platform.instance_logs) as rows`,
  });
  const rows = b.lastId - a.lastId;
  // Pruning deletes the oldest rows, whatever their size: what survives of the window stands for all of it.
  const perRow = stored!.rows > 0 ? stored!.bytes / stored!.rows : 0;
  const linesPerRow = stored!.rows > 0 ? stored!.lines / stored!.rows : 0;
  const printed = instances * linesPerSecond * LINE_BYTES;
  const f = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  console.log(`bench:logs — ${instances} instances × ${linesPerSecond} lines/s of ${LINE_BYTES} bytes (${f(instances * linesPerSecond)} lines/s, ${f(printed / 1000)} kB/s printed); the agent ships every ${f(shipMs)} ms (--log-ship-ms) and keeps ${f(keepBytes)} bytes per run (--log-keep-bytes); ${elapsed.toFixed(1)} s measured`);
  const line = (name: string, value: string, note = '') => console.log(`${name.padEnd(28)} ${value.padStart(14)}  ${note}`);
  line('rows inserted/s', f(rows / elapsed, 1), `(${f(linesPerRow, 1)} lines, ${f(perRow)} bytes each)`);
  line('rows deleted/s (pruning)', f((b.deleted - a.deleted) / elapsed, 1));
  line('lines stored/s', f((rows * linesPerRow) / elapsed));
  line('bytes stored/s', f((rows * perRow) / elapsed), `(of ${f(printed)} printed/s)`);
  line('WAL bytes/s', f(wal / elapsed), `(${(wal / elapsed / printed).toFixed(2)} per byte printed; idle platform ${f(idleWal)}/s)`);
  line('WAL bytes/s of the logs', f(wal / elapsed - idleWal), `(${f(((wal / elapsed - idleWal) * 86_400) / 2 ** 30, 1)} GiB a day)`);
  line('instance_logs size', `${f(size!.bytes / 2 ** 20, 1)} MiB`, `(${f(size!.rows)} rows)`);
} finally {
  // The instances outlive an agent (the next one adopts them): stop them through the App first.
  await runDelete(['app', 'printer', '-n', 'default', '--database-url', postgres.databaseUrl], io, {}).catch(() => {});
  await until('every instance stopped', async () => (await store.query<{ n: number }>({ name: 'bench.left', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0, 120_000).catch((err: unknown) => console.error((err as Error).message));
  await agent?.stop();
  stop.abort();
  await running;
  await store.close();
  await postgres.stop();
  rmSync(dir, { recursive: true, force: true });
}
