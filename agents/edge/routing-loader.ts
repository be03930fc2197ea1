/**
 * Keeps the edge's routing table current from PostgreSQL: the whole table at start, again on
 * every `NOTIFY tend_routing`, after every LISTEN reconnect, and whenever a periodic check of
 * `platform.routing_version` (default every 5 s) finds it moved — so a notification lost in
 * transit costs one check period, never a stale table.
 *
 * Every load reads rows and version in one statement and swaps the new immutable table in with
 * one assignment: a request sees the old table or the new one. Loads never overlap; a burst of
 * notifications coalesces into one load (the payload is the new version, and one already served
 * is ignored).
 */
import type { Logger } from 'pino';
import type { Enqueuer } from '../../framework/queue/index.js';
import { keyOf, type Key } from '../../framework/reconcile/index.js';
import { postgresSource } from '../../framework/source/postgres.js';
import type { Queryable } from '../../framework/store/index.js';
import { sleep } from '../../framework/time/sleep.js';
import { loadRouting, routingVersion } from './queries.js';
import { RoutingTable, type RoutingRow } from './routing-table.js';

/** The channel the routing trigger notifies (migrations/000005_platform_routing.sql). */
export const ROUTING_CHANNEL = 'tend_routing';

export interface RoutingLoaderOptions {
  /** Where the table is read (a pooled connection is fine). */
  readonly store: Queryable;
  /** A direct PostgreSQL URL for LISTEN (not through a transaction-pooling PgBouncer). */
  readonly listenUrl: string;
  readonly logger: Logger;
  /** How often `platform.routing_version` is compared with the table served. @default 5_000 */
  readonly checkMs?: number;
  /** Called after each new table is in force (metrics, logs). */
  readonly onTable?: (table: RoutingTable, previous: RoutingTable) => void;
}

const RELOAD: Key = keyOf(undefined, 'routing');

/** The routing table being served, kept current while `run` runs. */
export class RoutingLoader {
  private table: RoutingTable = RoutingTable.empty();
  private readonly checkMs: number;
  private readonly log: Logger;
  private resolveLoaded!: () => void;
  private readonly firstLoad = new Promise<void>((resolve) => (this.resolveLoaded = resolve));

  constructor(private readonly options: RoutingLoaderOptions) {
    this.checkMs = options.checkMs ?? 5_000;
    if (!Number.isInteger(this.checkMs) || this.checkMs < 1) {
      throw new TypeError(`routing loader: checkMs must be a positive whole number of milliseconds, got ${String(options.checkMs)}`);
    }
    this.log = options.logger.child({ component: 'routing-loader' });
  }

  /** The table in force now. Read it once per request and use that one object throughout. */
  get current(): RoutingTable {
    return this.table;
  }

  /** Resolves once the first table is in force (never, if `run` stops first: race it with your signal). */
  loaded(): Promise<void> {
    return this.firstLoad;
  }

  /** Loads and keeps loading until `signal` aborts; resolves then. Failed reads are retried. */
  async run(signal: AbortSignal): Promise<void> {
    let wanted = true; // the first pass loads
    // Set after each LISTEN (re)connect; a load already under way may predate the connection, so
    // a load does not clear it.
    let checkWanted = false;
    let wake: () => void = () => {};
    const want = () => {
      wanted = true;
      wake();
    };
    let nextCheck = Date.now() + this.checkMs;
    signal.addEventListener('abort', () => wake(), { once: true });
    const notifications: Enqueuer = { add: async () => want(), addAfter: async () => want(), addRateLimited: async () => want() };
    postgresSource({
      name: 'edge',
      connectionString: this.options.listenUrl,
      channel: ROUTING_CHANNEL,
      map: (payload) => (this.isNews(payload) ? [RELOAD] : []),
      // Notifications sent while the connection was down are lost: after every connect, compare
      // versions at once (cheap) instead of waiting for the next periodic check.
      resync: async () => {
        checkWanted = true;
        wake();
        return [];
      },
      logger: this.log,
    }).start(signal, notifications);

    for (let failures = 0; !signal.aborted; ) {
      try {
        if (wanted) {
          wanted = false;
          await this.reload();
          nextCheck = Date.now() + this.checkMs;
        } else if (checkWanted || Date.now() >= nextCheck) {
          checkWanted = false;
          nextCheck = Date.now() + this.checkMs;
          const [row] = await this.options.store.query<{ version: string }>(routingVersion);
          if (row && BigInt(row.version) !== this.table.version) {
            this.log.info({ served: String(this.table.version), current: row.version }, 'routing version moved without a notification; reloading');
            await this.reload();
          }
        }
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        wanted = true;
        const delayMs = Math.min(this.checkMs, 100 * 2 ** Math.min(failures - 1, 10));
        this.log.warn({ err: (err as Error).message, delayMs }, 'reading the routing table failed; serving the previous one and retrying');
        await sleep(delayMs, signal);
        continue;
      }
      if (wanted || checkWanted) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, nextCheck - Date.now()));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (signal.aborted) wake();
      });
      wake = () => {};
    }
  }

  /** Whether a notification announces a version newer than the one served (unreadable: assume so). */
  private isNews(payload: string): boolean {
    try {
      return BigInt(payload) > this.table.version;
    } catch {
      return true;
    }
  }

  private async reload(): Promise<void> {
    const [row] = await this.options.store.query<{ version: string; routes: RoutingRow[] }>(loadRouting);
    if (!row) throw new Error('platform.routing_version has no row; is migration 000005 applied?');
    const previous = this.table;
    const table = RoutingTable.build(BigInt(row.version), row.routes);
    this.table = table;
    if (table.problems.join('\n') !== previous.problems.join('\n')) {
      for (const problem of table.problems) this.log.warn({ version: row.version }, problem);
    }
    // A reload can find the version it already serves (a notification raced a load): say so quietly.
    const level = table.version === previous.version ? 'debug' : 'info';
    this.log[level]({ version: row.version, previous: String(previous.version), routes: table.entries.length }, 'routing table loaded');
    this.resolveLoaded();
    this.options.onTable?.(table, previous);
  }
}
