import type { Logger } from 'pino';
import type { Enqueuer } from '../queue/index.js';
import type { Key } from '../reconcile/index.js';
import type { Source } from './index.js';
import { PostgresListener } from './postgres-listener.js';

interface PostgresSourceCommon {
  readonly name: string;
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
}

export type PostgresSourceOptions = PostgresSourceCommon &
  (
    | {
        /** The process's shared LISTEN connection: every source on it costs no connection of its own. */
        readonly listener: PostgresListener;
      }
    | {
        /**
         * A direct connection of this source's own (LISTEN does not work through a transaction-pooling
         * PgBouncer). May list several hosts (`target_session_attrs=read-write`): each reconnect goes
         * to the one that takes writes, where the NOTIFYs are sent.
         */
        readonly connectionString: string;
        /** Longest wait between reconnect attempts. @default 10_000 */
        readonly maxRetryDelayMs?: number;
        /** How often the connection must answer `select 1` to be kept. @default 5_000 */
        readonly livenessMs?: number;
      }
  );

/**
 * Keys from PostgreSQL LISTEN/NOTIFY: changes that happen in the database (an agent reporting an
 * instance ready, a placement) wake the controllers that care, in milliseconds. Notifications are
 * a hint, never the truth: a lost one costs the time until the next resync, not correctness.
 * The connection (a `PostgresListener`, shared or this source's own) is checked every few seconds
 * and replaced when it stops answering; after every (re)connect `resync`'s keys are enqueued.
 */
export function postgresSource(options: PostgresSourceOptions): Source {
  let resolveSynced!: () => void;
  const synced = new Promise<void>((resolve) => (resolveSynced = resolve));
  return {
    name: `postgres:${options.channel}`,
    start(signal: AbortSignal, queue: Enqueuer): void {
      if (signal.aborted) return;
      const log = options.logger.child({ source: options.name });
      const listener =
        'listener' in options
          ? options.listener
          : new PostgresListener({
              connectionString: options.connectionString,
              logger: log,
              applicationName: `tend listen ${options.channel}`,
              ...(options.maxRetryDelayMs !== undefined ? { maxRetryDelayMs: options.maxRetryDelayMs } : {}),
              ...(options.livenessMs !== undefined ? { livenessMs: options.livenessMs } : {}),
            });
      const leave = listener.subscribe(options.channel, {
        onNotification: (payload) => {
          for (const key of options.map(payload)) queue.add(key);
        },
        onListening: async () => {
          try {
            for (const key of (await options.resync?.()) ?? []) queue.add(key);
          } finally {
            resolveSynced();
          }
        },
      });
      signal.addEventListener('abort', leave, { once: true });
    },
    synced: () => synced,
  };
}
