import type pg from 'pg';
import type { Logger } from 'pino';
import type { Enqueuer } from '../queue/index.js';
import type { Key } from '../reconcile/index.js';
import { connectClient } from '../store/connect-client.js';
import { sleep } from '../time/sleep.js';
import type { Source } from './index.js';

export interface PostgresSourceOptions {
  readonly name: string;
  /**
   * A direct connection (LISTEN does not work through a transaction-pooling PgBouncer). May list
   * several hosts (`target_session_attrs=read-write`): each reconnect goes to the one that takes
   * writes, where the NOTIFYs are sent.
   */
  readonly connectionString: string;
  /** The NOTIFY channel to listen on. */
  readonly channel: string;
  /** Payload of one notification → keys to reconcile. */
  readonly map: (payload: string) => readonly Key[];
  /**
   * Keys to reconcile after every (re)connect: notifications sent while not listening are lost,
   * so a reconnect re-checks what they could have been about.
   */
  readonly resync?: () => Promise<readonly Key[]>;
  readonly logger: Logger;
  /** Longest wait between reconnect attempts. @default 10_000 */
  readonly maxRetryDelayMs?: number;
  /**
   * The connection is asked `select 1` this often, and one that does not answer within as long
   * is given up and replaced: a LISTEN connection carries nothing when nothing changes, so a dead
   * one (a partition, a peer whose state a NAT or load balancer forgot) is otherwise never noticed.
   * @default 5_000
   */
  readonly livenessMs?: number;
}

/**
 * Keys from PostgreSQL LISTEN/NOTIFY: changes that happen in the database (an agent reporting an
 * instance ready, a placement) wake the controllers that care, in milliseconds. Notifications are
 * a hint, never the truth: a lost one costs the time until the next resync, not correctness.
 * The connection is checked every `livenessMs` and replaced when it stops answering.
 */
export function postgresSource(options: PostgresSourceOptions): Source {
  let resolveSynced!: () => void;
  const synced = new Promise<void>((resolve) => (resolveSynced = resolve));
  return {
    name: `postgres:${options.channel}`,
    start(signal: AbortSignal, queue: Enqueuer): void {
      void listen(options, signal, queue, resolveSynced);
    },
    synced: () => synced,
  };
}

async function listen(options: PostgresSourceOptions, signal: AbortSignal, queue: Enqueuer, onSynced: () => void): Promise<void> {
  const log = options.logger.child({ source: options.name });
  const livenessMs = options.livenessMs ?? 5_000;
  for (let failures = 0; !signal.aborted; ) {
    let client: pg.Client | undefined;
    const connection = new AbortController();
    try {
      client = await connectClient(options.connectionString, {
        application_name: `tend listen ${options.channel}`,
        keepAlive: true,
        connectionTimeoutMillis: livenessMs * 2,
        query_timeout: livenessMs,
      });
      const open = client;
      const closed = new Promise<Error | undefined>((resolve) => {
        open.on('error', resolve);
        open.on('end', () => resolve(undefined));
      });
      open.on('notification', (message) => {
        if (message.channel !== options.channel || message.payload === undefined) return;
        for (const key of options.map(message.payload)) queue.add(key);
      });
      await open.query(`listen ${open.escapeIdentifier(options.channel)}`);
      failures = 0;
      for (const key of (await options.resync?.()) ?? []) queue.add(key);
      onSynced();
      const stop = new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
      const err = await Promise.race([closed, stop, silence(open, livenessMs, connection.signal)]);
      if (err) throw err;
    } catch (err) {
      if (signal.aborted) break;
      failures++;
      const delayMs = Math.min(options.maxRetryDelayMs ?? 10_000, 100 * 2 ** Math.min(failures - 1, 16));
      log.warn({ err: (err as Error).message, delayMs }, 'LISTEN connection lost; reconnecting');
      await sleep(delayMs, signal);
    } finally {
      connection.abort();
      // A silent connection may never confirm the end: do not wait for it (keepalive reaps it).
      if (client) await Promise.race([client.end().catch(() => {}), sleep(1_000)]);
    }
  }
}

/** Resolves with an error once `client` fails to answer `select 1` (asked every `everyMs`); never while it answers. */
async function silence(client: pg.Client, everyMs: number, signal: AbortSignal): Promise<Error> {
  for (;;) {
    await sleep(everyMs, signal);
    if (signal.aborted) return new Promise<never>(() => {});
    try {
      await client.query('select 1');
    } catch (err) {
      return new Error(`the connection stopped answering (${(err as Error).message})`);
    }
  }
}
