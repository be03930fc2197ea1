/**
 * A PostgreSQL primary and its streaming standby, for failover tests (issue 14 §4): two real
 * servers on free loopback ports in folders of their own, run as the `postgres` OS user when
 * the tests run as root, from the binaries tend's embedded mode uses.
 *
 * The standby is a base backup of the running primary taken with the low-level backup API
 * (`pg_backup_start` → copy of the data folder → `pg_backup_stop`, whose backup_label goes into
 * the copy) and configured as `pg_basebackup -R` would (standby.signal, primary_conninfo, a
 * replication slot). `pg_basebackup` itself is not used: the embedded package ships only initdb,
 * pg_ctl and postgres, and Debian's (PostgreSQL 15) refuses a newer server.
 *
 * Replication is synchronous once the standby has caught up (`synchronous_standby_names` names
 * it, `synchronous_commit=on`): a commit is acknowledged only once the standby has it flushed, so
 * stopping the primary, even with an immediate shutdown, loses nothing that any client was told
 * was committed. The setting lives in the primary's postgresql.auto.conf, which the standby's
 * copy predates: the promoted server does not wait for a standby it does not have.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, readdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { embeddedBinaries, initDataDir, osUser } from '../../cli/standalone/embedded-postgres.js';
import { freePort } from './ports.js';
import { ServerProcess, waitForServer } from './server-process.js';

const run = promisify(execFile);

// The superuser is trusted on loopback, replication included (the standby streams as postgres);
// every other role needs its password, as in test/env/postgres.ts.
const PAIR_HBA = `local all all trust
host all postgres 127.0.0.1/32 trust
host replication postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
`;
const STANDBY_NAME = 'standby';

/** One server of the pair. */
export interface PairServer {
  readonly port: number;
  readonly dataDir: string;
  readonly logFile: string;
  /** The superuser's URL to this server alone, `postgres` database. */
  readonly adminUrl: string;
  readonly process: ServerProcess;
}

export interface PostgresPair {
  readonly primary: PairServer;
  readonly standby: PairServer;
  /** The database made for the test, both hosts listed: `postgres://postgres@127.0.0.1:P,127.0.0.1:S/DB?target_session_attrs=read-write`. */
  readonly databaseUrl: string;
  /** The same database on one server only. */
  urlOn(server: PairServer): string;
  /** Immediate shutdown of the primary (SIGQUIT): no checkpoint, as a crash would leave it. */
  crashPrimary(): Promise<void>;
  /** `pg_ctl promote` on the standby; resolves once it takes writes. */
  promote(): Promise<void>;
  /** Stops whatever still runs. */
  stop(): Promise<void>;
}

/** Starts a primary, makes and starts its synchronous standby, and creates `database` on the primary. */
export async function startPostgresPair(dir: string, database = 'tend_failover'): Promise<PostgresPair> {
  const bin = await embeddedBinaries();
  const pgCtl = join(dirname(bin.postgres), 'pg_ctl');
  const owner = process.getuid?.() === 0 ? await osUser('postgres') : undefined;
  const asOwner = owner ?? {};
  chmodSync(dir, 0o755);
  const folder = (path: string): string => {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    if (owner) chownSync(path, owner.uid, owner.gid);
    return path;
  };
  const socketDir = folder(join(dir, 'pair-socket'));
  const [primaryPort, standbyPort] = [await freePort(), await freePort()];
  const started: ServerProcess[] = [];

  const launch = async (name: string, dataDir: string, port: number): Promise<PairServer> => {
    const logFile = join(dir, `${name}.log`);
    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const server = ServerProcess.start({
      name: `postgres ${name}`,
      command: bin.postgres,
      logFile,
      stopSignal: 'SIGINT',
      ...asOwner,
      args: [
        '-D', dataDir, '-p', String(port), '-k', socketDir,
        '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200',
        // Durability against the OS crashing is not what this tests; replication is.
        '-c', 'fsync=off', '-c', 'full_page_writes=off',
        '-c', 'synchronous_commit=on', '-c', 'wal_level=replica', '-c', 'hot_standby=on',
        '-c', 'wal_receiver_status_interval=1s',
        // A standby whose primary is gone retries every wal_retrieve_retry_interval (5 s by
        // default) and notices a promote request only then: 4.5 s of every promotion here.
        '-c', 'wal_retrieve_retry_interval=200ms',
      ],
    });
    started.push(server);
    await waitForServer(server, 'accepting connections', async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.end();
      return true;
    });
    return { port, dataDir, logFile, adminUrl, process: server };
  };

  try {
    const primaryDir = folder(join(dir, 'primary'));
    await initDataDir(bin, primaryDir, owner, ['--no-sync']);
    writeFileSync(join(primaryDir, 'pg_hba.conf'), PAIR_HBA);
    const primary = await launch('primary', primaryDir, primaryPort);
    await sql(primary.adminUrl, async (c) => {
      await c.query(`create database ${c.escapeIdentifier(database)}`);
      // Reserves WAL from now: the standby streams from its backup's start even if it lags.
      await c.query('select pg_create_physical_replication_slot($1, true)', [STANDBY_NAME]);
    });

    const standbyDir = join(dir, 'standby');
    await sql(primary.adminUrl, async (c) => {
      await c.query("select pg_backup_start('tend failover test', true)");
      cpSync(primaryDir, standbyDir, { recursive: true, filter: (src) => copied(relative(primaryDir, src)) });
      for (const sub of ['pg_wal', 'pg_wal/archive_status', 'pg_wal/summaries', 'pg_replslot']) mkdirSync(join(standbyDir, sub), { recursive: true });
      const { rows } = await c.query<{ labelfile: string }>('select labelfile from pg_backup_stop(false)');
      writeFileSync(join(standbyDir, 'backup_label'), rows[0]!.labelfile);
    });
    // What pg_basebackup -R writes.
    writeFileSync(join(standbyDir, 'standby.signal'), '');
    appendFileSync(join(standbyDir, 'postgresql.auto.conf'), `primary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres application_name=${STANDBY_NAME}'\nprimary_slot_name = '${STANDBY_NAME}'\n`);
    if (owner) chownTree(standbyDir, owner);
    chmodSync(standbyDir, 0o700);
    const standby = await launch('standby', standbyDir, standbyPort);

    // Synchronous from here on: every commit waits for the standby's flush.
    await sql(primary.adminUrl, async (c) => {
      await c.query(`alter system set synchronous_standby_names = '${STANDBY_NAME}'`);
      await c.query('select pg_reload_conf()');
    });
    await waitForServer(primary.process, 'a synchronous standby', () =>
      sql(primary.adminUrl, async (c) => ((await c.query("select 1 from pg_stat_replication where application_name = $1 and sync_state = 'sync' and state = 'streaming'", [STANDBY_NAME])).rowCount ? true : undefined)),
    );

    const urlOn = (server: PairServer): string => `postgres://postgres@127.0.0.1:${server.port}/${database}`;
    return {
      primary,
      standby,
      databaseUrl: `postgres://postgres@127.0.0.1:${primaryPort},127.0.0.1:${standbyPort}/${database}?target_session_attrs=read-write`,
      urlOn,
      async crashPrimary() {
        process.kill(primary.process.pid!, 'SIGQUIT');
        await primary.process.exited;
        await primary.process.stop();
      },
      async promote() {
        await run(pgCtl, ['promote', '-D', standbyDir, '-w', '-t', '30'], asOwner);
        await waitForServer(standby.process, 'the end of recovery', () => sql(standby.adminUrl, async (c) => ((await c.query<{ r: boolean }>('select pg_is_in_recovery() as r')).rows[0]!.r ? undefined : true)));
      },
      async stop() {
        await Promise.all(started.map((s) => s.stop()));
      },
    };
  } catch (err) {
    await Promise.all(started.map((s) => s.stop().catch(() => {})));
    throw err;
  }
}

/** Whether a path of the data folder belongs in a base backup (PostgreSQL's own exclusion list, in short). */
function copied(path: string): boolean {
  if (path === '') return true;
  const [top, ...rest] = path.split('/');
  if (['postmaster.pid', 'postmaster.opts', 'backup_label', 'tablespace_map'].includes(path)) return false;
  // Contents made afresh by the standby, or only the primary's.
  if (['pg_wal', 'pg_replslot', 'pg_stat_tmp', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans'].includes(top!) && rest.length > 0) return false;
  return true;
}

function chownTree(path: string, owner: { uid: number; gid: number }): void {
  chownSync(path, owner.uid, owner.gid);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) chownTree(child, owner);
    else chownSync(child, owner.uid, owner.gid);
  }
}

async function sql<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
