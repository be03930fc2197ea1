/**
 * A node's or edge's credentials file: what `tend node enroll` / `tend edge enroll` writes (0600)
 * and `tend agent` / `tend edge` read, so the password is never on a command line (every local
 * user can read another process's argv in /proc) nor in a shell's history.
 *
 * ```json
 * { "kind": "node", "name": "node-1", "databaseUrl": "postgres://tend_node_…:…@db.internal:5432/tend" }
 * ```
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseDatabaseUrl } from '../framework/index.js';
import type { CliIo } from './io.js';
import { UsageError } from './usage-error.js';

/** The contents of a credentials file. */
export interface Credentials {
  readonly kind: 'node' | 'edge';
  readonly name: string;
  /** The login's URL, password included. */
  readonly databaseUrl: string;
}

/** Writes `credentials` to `file` with mode 0600, replacing it in one step (never readable by others, even briefly). */
export function writeCredentialsFile(file: string, credentials: Credentials): void {
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(temporary, file);
}

/** Reads a credentials file of `kind`; a UsageError naming the file when it is not one. Warns when others may read it. */
export function readCredentialsFile(verb: string, file: string, kind: Credentials['kind'], io: CliIo): Credentials {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${verb}: cannot read the credentials file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let parsed: Partial<Credentials>;
  try {
    parsed = JSON.parse(text) as Partial<Credentials>;
  } catch {
    throw new UsageError(`${verb}: ${file} is not a credentials file (not JSON); make one with tend ${kind} enroll NAME`);
  }
  if (parsed.kind !== kind || typeof parsed.name !== 'string' || typeof parsed.databaseUrl !== 'string') {
    throw new UsageError(`${verb}: ${file} is not a ${kind}'s credentials file (kind, name, databaseUrl); make one with tend ${kind} enroll NAME`);
  }
  if ((statSync(file).mode & 0o077) !== 0) io.err(`tend ${verb}: warning: ${file} may be read by other users; chmod 600 it`);
  return { kind, name: parsed.name, databaseUrl: parsed.databaseUrl };
}

/** Where an agent or edge connects: its credentials file, else a database URL. */
export interface ResolvedConnection {
  readonly databaseUrl: string;
  /** The name in the credentials file, when one was used. */
  readonly name?: string;
}

/**
 * The connection of `tend agent` / `tend edge`: `--credentials-file`, `$TEND_CREDENTIALS_FILE`,
 * `--database-url` or `$DATABASE_URL`, in that order. A password given in `--database-url` works
 * but is warned about: it is in the process list for every local user to read.
 */
export function resolveAgentConnection(
  verb: string,
  kind: Credentials['kind'],
  values: { readonly 'credentials-file'?: string | undefined; readonly 'database-url'?: string | undefined },
  env: NodeJS.ProcessEnv,
  io: CliIo,
): ResolvedConnection {
  const file = values['credentials-file'] ?? env.TEND_CREDENTIALS_FILE;
  if (file) {
    const credentials = readCredentialsFile(verb, file, kind, io);
    return { databaseUrl: credentials.databaseUrl, name: credentials.name };
  }
  const flag = values['database-url'];
  if (flag !== undefined && hasPassword(flag)) {
    io.err(`tend ${verb}: warning: --database-url carries a password, which every local user can read in the process list; use --credentials-file (tend ${kind} enroll NAME) or $DATABASE_URL`);
  }
  const databaseUrl = flag ?? env.DATABASE_URL;
  if (!databaseUrl) throw new UsageError(`${verb} needs --credentials-file, $TEND_CREDENTIALS_FILE, --database-url or $DATABASE_URL`);
  return { databaseUrl };
}

function hasPassword(url: string): boolean {
  try {
    if (parseDatabaseUrl(url).password) return true;
  } catch {
    // Malformed: the Store says why; here only whether a password shows.
  }
  return /password=/i.test(url);
}
