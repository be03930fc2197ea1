import type pg from 'pg';
import type { Logger } from 'pino';
import { connectClient } from '../store/connect-client.js';
import { backoffDelay } from '../time/backoff.js';
import { sleep } from '../time/sleep.js';

/** The first reconnect waits this long, doubling to maxRetryDelayMs. */
const RETRY_BASE_DELAY_MS = 100;

export interface PostgresListenerOptions {
  /**
   * A direct connection (LISTEN does not work through a transaction-pooling PgBouncer). May list
   * several hosts (`target_session_attrs=read-write`): each reconnect goes to the one that takes writes.
   */
  readonly connectionString: string;
  readonly logger: Logger;
  /** `application_name` of the connection in `pg_stat_activity`. @default 'tend listen' */
  readonly applicationName?: string;
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

/** What one subscriber of a channel is told. */
export interface ChannelSubscriber {
  /** The payload of each notification on the channel. */
  readonly onNotification: (payload: string) => void;
  /**
   * Once the channel is listened on, after every (re)connect: notifications sent before were
   * lost, so this is the moment to look at everything they could have been about.
   */
  readonly onListening: () => void | Promise<void>;
}

/**
 * One LISTEN connection for every channel a process listens on. A connection per channel made
 * every replica hold six, more than its whole pool at rest: three replicas held 20 of a 30-
 * connection server's slots before a query ran (test/integration/reliability/pool-exhaustion.test.ts).
 * The connection opens with the first subscriber and closes after the last leaves; a lost or
 * silent one is replaced, every channel listened on again and every subscriber told.
 *
 * ```ts
 * const listener = new PostgresListener({ connectionString, logger });
 * const leave = listener.subscribe('tend_instances', { onNotification: (p) => wake(p), onListening: () => wakeAll() });
 * ```
 */
export class PostgresListener {
  private readonly channels = new Map<string, Set<ChannelSubscriber>>();
  private readonly log: Logger;
  private stop: AbortController | undefined;
  /** The connection while it listens on `listening`'s channels. */
  private connected: { readonly client: pg.Client; readonly listening: Set<string> } | undefined;

  constructor(private readonly options: PostgresListenerOptions) {
    this.log = options.logger.child({ listener: options.applicationName ?? 'tend listen' });
  }

  /** Starts listening on `channel` for `subscriber` (connecting if need be); returns a function that stops it. */
  subscribe(channel: string, subscriber: ChannelSubscriber): () => void {
    let subscribers = this.channels.get(channel);
    if (!subscribers) this.channels.set(channel, (subscribers = new Set()));
    subscribers.add(subscriber);
    if (!this.stop) {
      this.stop = new AbortController();
      void this.run(this.stop.signal);
    } else if (this.connected) {
      // Listening already: add the channel to the live connection (a failure there replaces it,
      // and the reconnect listens on every channel and tells every subscriber).
      void this.listenOn(this.connected, channel).then(() => this.tell(subscriber), () => {});
    }
    return () => {
      subscribers.delete(subscriber);
      if (subscribers.size > 0) return;
      this.channels.delete(channel);
      if (this.channels.size === 0) {
        this.stop?.abort();
        this.stop = undefined;
        return;
      }
      const connected = this.connected;
      if (connected?.listening.delete(channel)) void connected.client.query(`unlisten ${connected.client.escapeIdentifier(channel)}`).catch(() => {});
    };
  }

  private async run(signal: AbortSignal): Promise<void> {
    const livenessMs = this.options.livenessMs ?? 5_000;
    for (let failures = 0; !signal.aborted; ) {
      let client: pg.Client | undefined;
      const connection = new AbortController();
      try {
        // Several hosts in the URL: each (re)connect goes to the one that takes writes, where the NOTIFYs are sent.
        client = await connectClient(this.options.connectionString, {
          application_name: this.options.applicationName ?? 'tend listen',
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
          if (message.payload === undefined) return;
          for (const subscriber of this.channels.get(message.channel) ?? []) {
            try {
              subscriber.onNotification(message.payload);
            } catch (err) {
              this.log.error({ err, channel: message.channel }, 'notification handler threw');
            }
          }
        });
        const current = { client: open, listening: new Set<string>() };
        // A channel subscribed meanwhile is visited too (a Map's iteration includes added keys).
        for (const channel of this.channels.keys()) await this.listenOn(current, channel);
        this.connected = current;
        failures = 0;
        for (const subscribers of [...this.channels.values()]) for (const subscriber of [...subscribers]) await this.tell(subscriber);
        // The last subscriber may have left while this connected: an aborted signal fires no more.
        const stop = signal.aborted ? Promise.resolve(undefined) : new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
        const err = await Promise.race([closed, stop, silence(open, livenessMs, connection.signal)]);
        if (err) throw err;
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        const delayMs = backoffDelay(failures, { baseDelayMs: RETRY_BASE_DELAY_MS, maxDelayMs: this.options.maxRetryDelayMs ?? 10_000 });
        this.log.warn({ err: (err as Error).message, channels: [...this.channels.keys()], delayMs }, 'LISTEN connection lost; reconnecting');
        await sleep(delayMs, signal);
      } finally {
        this.connected = undefined;
        connection.abort();
        // A silent connection may never confirm the end: do not wait for it (keepalive reaps it).
        if (client) await Promise.race([client.end().catch(() => {}), sleep(1_000)]);
      }
    }
  }

  private async listenOn(connected: { readonly client: pg.Client; readonly listening: Set<string> }, channel: string): Promise<void> {
    if (connected.listening.has(channel)) return;
    connected.listening.add(channel);
    try {
      await connected.client.query(`listen ${connected.client.escapeIdentifier(channel)}`);
    } catch (err) {
      connected.listening.delete(channel);
      throw err;
    }
  }

  private async tell(subscriber: ChannelSubscriber): Promise<void> {
    try {
      await subscriber.onListening();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'a LISTEN subscriber failed to catch up after the (re)connect');
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
