/**
 * `tend edge keygen FILE`: the certificates key (certificates/certificates-key.ts). Makes FILE
 * (0600, never over an existing one) or reads it, then publishes its public half with tend's own
 * database role, so that the Route controller seals every certificate's private key to it. Copy
 * FILE to every edge (`tend edge --certificates-key-file FILE`); nothing else holds it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { publishCertificatesPublicKey } from '../certificates/certificates-key.js';
import { Store } from '../framework/index.js';
import { loadOrCreateSealingKey } from '../secrets/key-file.js';
import { sealingKeyId } from '../secrets/seal.js';
import { databaseUrlOf } from './connection.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';

/** Usage text of `tend edge keygen`. */
export const KEYGEN_USAGE = `Usage: tend edge keygen FILE [options]

Make the certificates key in FILE (mode 0600; an existing FILE is used as it is) and publish its
public half in PostgreSQL: the Route controller seals every certificate's private key to it, so
the database holds none in clear. Copy FILE to every edge and run
tend edge --https-listen ADDR --certificates-key-file FILE. Publishing a new key makes the
controllers seal every certificate to it (edges holding the old one stop serving them).
Connects as tend's own database role (the one that runs the migrations).

Options:
  --database-url URL   tend's PostgreSQL (default: $DATABASE_URL, else the one \`tend up\` started)
  --data-dir DIR       the data folder of \`tend up\` (default: $TEND_DATA_DIR or ./.tend)
  -h, --help           show this help`;

/** Run `tend edge keygen`; returns the exit code. */
export async function runKeygen(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseVerbArgs('edge keygen', args, { 'database-url': { type: 'string' }, 'data-dir': { type: 'string' } }, true);
  if (values.help) {
    io.out(KEYGEN_USAGE);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('edge keygen needs exactly one FILE');
  const file = resolve(positionals[0]!);
  const databaseUrl = databaseUrlOf(values, env);
  if (!databaseUrl) throw new UsageError("edge keygen needs tend's database: --database-url, $DATABASE_URL, or a running tend up (--data-dir)");
  const existed = existsSync(file);
  const key = loadOrCreateSealingKey(file);
  const store = new Store({ connectionString: databaseUrl, logger: pino({ level: 'silent' }), applicationName: 'tend edge keygen', poolSize: 1 });
  try {
    await publishCertificatesPublicKey(store, key);
  } finally {
    await store.close();
  }
  io.out(`certificates key ${sealingKeyId(key.publicKey)} ${existed ? 'read from' : 'made in'} ${file} (mode 0600) and published`);
  io.out('copy it to every edge, then: tend edge --https-listen ADDR --certificates-key-file FILE');
  return EXIT.ok;
}
