/**
 * `tend node enroll NAME` and `tend edge enroll NAME`: give a worker host's agent, or an edge, a
 * PostgreSQL login of its own (migrations/000009), and write its credentials file (0600) to copy
 * to that host. The password is made here and only its SCRAM verifier reaches the server.
 * `tend node revoke NAME` takes a node's login away at once (decommission does it by itself).
 */
import { resolve } from 'node:path';
import pino from 'pino';
import { generatePassword, type NamedQuery, parseDatabaseUrl, scramSha256Verifier, Store, withLogin } from '../framework/index.js';
import { databaseUrlOf } from './connection.js';
import { writeCredentialsFile, type Credentials } from './credentials.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';

const enrollQuery: NamedQuery = { name: 'cli.enroll', text: 'select platform.enroll($1, $2, $3) as role' };
const revokeQuery: NamedQuery = { name: 'cli.revoke_identity', text: 'select platform.revoke_identity($1, $2) as revoked' };

/** Usage text of `tend KIND enroll`. */
export function enrollUsage(kind: Credentials['kind']): string {
  const runs = kind === 'node' ? 'tend agent --node NAME' : 'tend edge';
  return `Usage: tend ${kind} enroll NAME [options]

Give the ${kind} NAME a PostgreSQL login of its own, allowed only what ${kind === 'node' ? 'a node agent needs: its own\nheartbeat, and the instances and volumes placed on that node (observed columns only)' : 'an edge needs: reading the\nrouting table'}. Writes its credentials file
(mode 0600): copy it to the host and run \`${runs} --credentials-file FILE\`.
Enrolling again gives a new password (the old one stops working) and lifts a revocation.
Connects as tend's own database role (the one that runs the migrations).

Options:
  --credentials-file FILE  where to write the credentials (default: ./${kind}-NAME.credentials.json)
  --host-url URL           the address the ${kind} reaches PostgreSQL at (default: the one used here);
                           its user and password are replaced by the new login's
  --database-url URL       tend's PostgreSQL (default: $DATABASE_URL, else the one \`tend up\` started)
  --data-dir DIR           the data folder of \`tend up\` (default: $TEND_DATA_DIR or ./.tend)
  -h, --help               show this help`;
}

/** Usage text of `tend node revoke`. */
export const REVOKE_USAGE = `Usage: tend node revoke NAME [options]

Take the node NAME's login away now: it can no longer connect, its open sessions end, and it sees
nothing any more. (A decommissioned Node is revoked by itself once nothing is left on it.)
\`tend node enroll NAME\` gives it new credentials.

Options:
  --database-url URL    tend's PostgreSQL (default: $DATABASE_URL, else the one \`tend up\` started)
  --data-dir DIR        the data folder of \`tend up\` (default: $TEND_DATA_DIR or ./.tend)
  -h, --help            show this help`;

/** Enrolls through `store` and returns the login's URL (`hostUrl` with the new user and password). */
export async function enroll(store: Store, kind: Credentials['kind'], name: string, hostUrl: string): Promise<string> {
  const password = generatePassword();
  const [row] = await store.query<{ role: string }>(enrollQuery, [kind, name, scramSha256Verifier(password)]);
  // withLogin keeps a host list (postgres://h1,h2/db?target_session_attrs=read-write) as it is.
  return withLogin(hostUrl, { user: row!.role, password });
}

/** Run `tend KIND enroll`; returns the exit code. */
export async function runEnroll(kind: Credentials['kind'], args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseVerbArgs(
    `${kind} enroll`,
    args,
    { 'credentials-file': { type: 'string' }, 'host-url': { type: 'string' }, 'database-url': { type: 'string' }, 'data-dir': { type: 'string' } },
    true,
  );
  if (values.help) {
    io.out(enrollUsage(kind));
    return EXIT.ok;
  }
  const name = onlyName(`${kind} enroll`, positionals);
  const databaseUrl = adminUrl(`${kind} enroll`, values, env);
  const file = resolve(values['credentials-file'] ?? `${kind}-${name}.credentials.json`);
  const store = new Store({ connectionString: databaseUrl, logger: pino({ level: 'silent' }), applicationName: 'tend enroll', poolSize: 1 });
  try {
    const url = await enroll(store, kind, name, values['host-url'] ?? databaseUrl);
    writeCredentialsFile(file, { kind, name, databaseUrl: url });
    io.out(`${kind} ${name} enrolled as PostgreSQL role ${parseDatabaseUrl(url).user}; credentials in ${file} (mode 0600)`);
    io.out(`copy it to the host, then: ${kind === 'node' ? `tend agent --node ${name}` : 'tend edge'} --credentials-file FILE`);
  } finally {
    await store.close();
  }
  return EXIT.ok;
}

/** Run `tend node revoke`; returns the exit code. */
export async function runRevoke(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseVerbArgs('node revoke', args, { 'database-url': { type: 'string' }, 'data-dir': { type: 'string' } }, true);
  if (values.help) {
    io.out(REVOKE_USAGE);
    return EXIT.ok;
  }
  const name = onlyName('node revoke', positionals);
  const store = new Store({ connectionString: adminUrl('node revoke', values, env), logger: pino({ level: 'silent' }), applicationName: 'tend revoke', poolSize: 1 });
  try {
    const [row] = await store.query<{ revoked: boolean }>(revokeQuery, ['node', name]);
    io.out(row?.revoked ? `node ${name}: credentials revoked, its sessions ended` : `node ${name}: nothing to revoke (not enrolled, or revoked already)`);
  } finally {
    await store.close();
  }
  return EXIT.ok;
}

function onlyName(verb: string, positionals: readonly string[]): string {
  if (positionals.length !== 1) throw new UsageError(`${verb} needs exactly one NAME`);
  return positionals[0]!;
}

function adminUrl(verb: string, values: { 'database-url'?: string | undefined; 'data-dir'?: string | undefined }, env: NodeJS.ProcessEnv): string {
  const url = databaseUrlOf(values, env);
  if (!url) throw new UsageError(`${verb} needs tend's database: --database-url, $DATABASE_URL, or a running tend up (--data-dir)`);
  return url;
}
