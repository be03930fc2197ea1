import pg from 'pg';
import { describeHosts, hostName, parseDatabaseUrl } from './database-url.js';
import { NoAcceptableHostError } from './no-acceptable-host-error.js';
import { checkSession } from './session-check.js';

/**
 * Opens one `pg.Client` (for LISTEN, or anything that needs a session of its own) to the first
 * host of `connectionString` that connects and passes the `target_session_attrs` check, trying
 * them in the order given, as libpq does. `config` is everything else pg takes
 * (`application_name`, timeouts…). Rejects with `NoAcceptableHostError` naming each host's reason
 * when there are several, or with pg's own error for a single host, as before host lists.
 *
 * ```ts
 * const client = await connectClient(databaseUrl, { application_name: 'tend listen', keepAlive: true });
 * client.on('error', onLost);
 * ```
 */
export async function connectClient(connectionString: string, config: Omit<pg.ClientConfig, 'connectionString'> = {}): Promise<pg.Client> {
  const target = parseDatabaseUrl(connectionString);
  const reasons = new Map<string, string>();
  let lastError: unknown;
  for (const [i, hostUrl] of target.hostUrls.entries()) {
    const client = new pg.Client({ ...config, connectionString: hostUrl });
    // An error while connecting or checking is the promise's; this only keeps it from being unhandled.
    const swallow = (): void => {};
    client.on('error', swallow);
    try {
      await client.connect();
      await checkSession(client, target.targetSessionAttrs);
      client.off('error', swallow);
      return client;
    } catch (err) {
      lastError = err;
      reasons.set(target.hosts[i] ? hostName(target.hosts[i]) : describeHosts(target), (err as Error).message);
      await client.end().catch(() => {});
    }
  }
  if (target.hostUrls.length === 1 && !(lastError instanceof Error && lastError.name === 'SessionRefusedError')) throw lastError;
  throw new NoAcceptableHostError(target.targetSessionAttrs === 'any' ? 'working' : target.targetSessionAttrs, reasons);
}
