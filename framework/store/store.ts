import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Logger } from 'pino';
import { DATABASE_FAILURE_KINDS, databaseFailureOf, isReadOnlyRefusal, type DatabaseFailureKind } from './database-failure.js';
import { describeHosts, parseDatabaseUrl, type DatabaseTarget } from './database-url.js';
import { HostPool, POOL_WAIT_TIMEOUT } from './host-pool.js';
import type { NamedQuery } from './named-query.js';
import { PoolExhaustedError } from './pool-exhausted-error.js';
import { QueryError } from './query-error.js';
import { compileStoreOptions, type CompiledStoreOptions, type StoreOptions } from './store-options.js';

/** Something that runs named queries: the `Store` itself or an open transaction. */
export interface Queryable {
  /** Runs `q` with `values` bound to `$1…`; resolves to the rows. Rejects with `QueryError` or `PoolExhaustedError`. */
  query<R extends object = Record<string, unknown>>(q: NamedQuery, values?: readonly unknown[]): Promise<R[]>;
}

/** An open transaction: valid only inside the `tx()` callback that received it. */
export interface Tx extends Queryable {
  /**
   * Runs a script of one or more statements without parameters over the simple protocol (never
   * prepared, since pg cannot prepare several statements); `q.name` still labels logs and errors.
   */
  script(q: NamedQuery): Promise<void>;
}

/** Whether PostgreSQL answers this process, and how often it did not, for metrics. */
export interface StoreHealth {
  /** False from a failure that concerns the whole database until the next query succeeds. */
  readonly available: boolean;
  /** Failures by kind since the Store was made (statement errors are not counted). */
  readonly failures: Readonly<Record<DatabaseFailureKind, number>>;
}

/** Pool occupancy, for metrics. */
export interface StoreStats {
  /** Open connections, busy or idle. */
  readonly total: number;
  readonly idle: number;
  /** Queries waiting for a connection. */
  readonly waiting: number;
  /** Connections the pool may open now: poolSize, or fewer while the server refuses new ones. */
  readonly max: number;
}

const PING: NamedQuery = { name: 'tend.ping', text: 'select 1' };
const BEGIN: NamedQuery = { name: 'tend.begin', text: 'begin' };
const COMMIT: NamedQuery = { name: 'tend.commit', text: 'commit' };
const ROLLBACK: NamedQuery = { name: 'tend.rollback', text: 'rollback' };

/**
 * The process's one PostgreSQL pool, with named queries, transactions, a slow-query log and
 * errors that name the query. Survives a server restart: pg drops dead connections, the
 * queries on them fail once, and later queries open fresh connections. With several hosts in the
 * URL (`postgres://h1,h2/db?target_session_attrs=read-write`) it survives a failover the same way:
 * new connections go to whichever host takes writes (`HostPool`), and a server that refuses a
 * write as read-only (25006) has its connections dropped.
 *
 * ```ts
 * await using store = new Store({ connectionString, logger });
 * const rows = await store.query<{ key: string; size: number }>(selectWidget, [key]);
 * await store.tx(async (tx) => { await tx.query(lockWidgets, []); await tx.query(upsertWidget, [key, 3]); });
 * ```
 */
export class Store implements Queryable, AsyncDisposable {
  /** The options in force, defaults filled in. */
  readonly options: CompiledStoreOptions;
  private readonly pool: HostPool;
  private readonly target: DatabaseTarget;
  private ended: Promise<void> | undefined;
  private readonly failures = Object.fromEntries(DATABASE_FAILURE_KINDS.map((k) => [k, 0])) as Record<DatabaseFailureKind, number>;
  /**
   * Set while PostgreSQL cannot be used: since when, how many queries failed meanwhile, and
   * whether that was logged (an outage of refused connections only is the refusals' to report).
   */
  private outage: { since: number; failed: number; logged: boolean } | undefined;
  /**
   * Set while the server refuses new connections (at max_connections): since when, the last
   * refusal, how many, and the timer that raises the pool's cap again (see `refused`).
   */
  private refusals: { since: number; last: number; probed: number; count: number; timer: NodeJS.Timeout } | undefined;
  /** performance.now() of the last answer; a failure of a query sent before it is old news. */
  private lastAnswer = -Infinity;

  /** Validates `options` (throws `TypeError` naming the bad option) and creates the pool; connects lazily. */
  constructor(options: StoreOptions) {
    this.options = compileStoreOptions(options);
    const o = this.options;
    // Throws DatabaseUrlError at once for a URL tend cannot use.
    this.target = parseDatabaseUrl(o.connectionString);
    this.pool = new HostPool(this.target, {
      max: o.poolSize,
      // pg-pool uses one timeout both for waiting on a busy pool and for opening a connection.
      connectionTimeoutMillis: o.connectionWaitMs,
      // Sent in the startup packet: applies to every statement on the connection, no extra round trip.
      // 0 is not sent, leaving the server's or role's setting.
      statement_timeout: o.statementTimeoutMs === 0 ? undefined : o.statementTimeoutMs,
      // Client-side: a silent connection (a partition; a peer whose state a NAT forgot) would
      // otherwise hold its query, and the worker waiting on it, until TCP gives up (hours).
      query_timeout: o.queryTimeoutMs === 0 ? undefined : o.queryTimeoutMs,
      application_name: o.applicationName,
      // Notices a silently dropped peer (NAT, failover) instead of waiting on a dead socket.
      keepAlive: true,
    });
    // One that was still connecting when another was refused got in: the cap holds it too.
    this.pool.onOpened(() => {
      if (this.refusals && this.pool.max < this.pool.openCount) this.pool.max = this.pool.openCount;
    });
    // An idle connection failing (server restart, network) must not crash the process:
    // pg-pool has already removed it; the next query opens a new one.
    this.pool.onError((err) => {
      this.failures.connection_lost++;
      this.logger.warn({ err: describe(err), application: options.applicationName }, 'idle PostgreSQL connection failed; the pool dropped it');
    });
  }

  /** The logger given in the options (silent by default); migrate and others log through it. */
  get logger(): Logger {
    return this.options.logger;
  }

  /** Runs one named query on a pooled connection and returns its rows. */
  async query<R extends object = Record<string, unknown>>(q: NamedQuery, values?: readonly unknown[]): Promise<R[]> {
    const client = await this.checkout(q.name);
    let failure: unknown;
    try {
      return await this.run<R>(client, q, values);
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      this.release(client, failure);
    }
  }

  /**
   * Runs `fn` in one transaction: begin, `fn`, commit; rollback when `fn` throws (the error is
   * rethrown). Keep `fn` short and free of non-database waits: it holds a connection and locks.
   */
  async tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.checkout(BEGIN.name);
    let open = true;
    const guard = (name: string): void => {
      if (!open) throw new QueryError(name, new Error('the transaction has already ended; use tx only inside its callback'));
    };
    const tx: Tx = {
      query: async <R extends object = Record<string, unknown>>(q: NamedQuery, values?: readonly unknown[]) => {
        guard(q.name);
        return this.run<R>(client, q, values);
      },
      script: async (q: NamedQuery) => {
        guard(q.name);
        await this.run(client, q, undefined, 'simple');
      },
    };
    // Set only when the connection may be unusable: a successful rollback proves it is fine.
    let broken: unknown;
    try {
      await this.run(client, BEGIN, undefined, 'simple');
      const value = await fn(tx);
      await this.run(client, COMMIT, undefined, 'simple');
      return value;
    } catch (err) {
      // A connection that failed (or went silent) cannot roll back: drop it, and the server rolls
      // back when it notices. After a failed commit the server has already rolled back; a
      // rollback then only warns.
      if (databaseFailureOf(err, false) !== undefined) {
        broken = err;
        throw err;
      }
      try {
        await this.run(client, ROLLBACK, undefined, 'simple');
      } catch (rollbackErr) {
        broken = rollbackErr;
      }
      throw err;
    } finally {
      open = false;
      this.release(client, broken);
    }
  }

  /** Resolves when the server answers a trivial query; for /readyz. */
  async ping(): Promise<void> {
    await this.query(PING);
  }

  /** Whether PostgreSQL answers, and the failures counted so far. */
  health(): StoreHealth {
    return { available: this.outage === undefined, failures: { ...this.failures } };
  }

  /** Pool occupancy right now. */
  stats(): StoreStats {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount, max: this.pool.max };
  }

  /** Closes every connection once the busy ones are released; later queries reject. Idempotent. */
  async close(): Promise<void> {
    if (this.refusals) clearTimeout(this.refusals.timer);
    this.ended ??= this.pool.end();
    await this.ended;
  }

  /** Same as `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async checkout(queryName: string): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    const started = performance.now();
    for (;;) {
      try {
        client = await this.pool.connect();
        break;
      } catch (err) {
        const failure = this.checkoutFailure(queryName, err);
        // The server is full but this pool has connections (or some still connecting): cap the
        // pool at the open ones (raised as the others get in) and wait for one.
        // Again if refused again: a refusal makes pg-pool open a connection for the next waiter
        // before the cap is lowered.
        if (databaseFailureOf(failure, true) === 'too_many_connections' && this.pool.totalCount > 0 && performance.now() - started < this.options.connectionWaitMs) {
          this.failures.too_many_connections++;
          this.refused(failure);
          continue;
        }
        this.failed(failure, true, started);
        throw failure;
      }
    }
    // pg-pool listens for errors only on idle clients; a checked-out client that loses its
    // connection would otherwise emit an unhandled 'error' and crash the process. The query
    // running on it rejects on its own, so here it is only logged.
    client.on('error', this.onBusyClientError);
    return client;
  }

  private checkoutFailure(queryName: string, err: unknown): QueryError | PoolExhaustedError {
    return err instanceof Error && err.message === POOL_WAIT_TIMEOUT ? new PoolExhaustedError(queryName, this.options.poolSize, this.options.connectionWaitMs) : new QueryError(queryName, err);
  }

  private release(client: pg.PoolClient, failure: unknown): void {
    client.off('error', this.onBusyClientError);
    // A plain statement error (constraint, timeout, syntax) leaves the connection usable, and
    // keeping it keeps its prepared statements; anything else may have broken it: destroy it.
    // A server that refused a write as read-only is no primary now (demoted, or made read-only):
    // none of its connections is reused, and new ones look for the host that takes writes.
    if (isReadOnlyRefusal(failure) && this.pool.trusted(client)) {
      this.pool.distrust(client);
      this.logger.warn({ host: this.pool.currentHost, hosts: describeHosts(this.target) }, 'PostgreSQL refused a write as read-only: its connections are dropped; new ones go to the host that takes writes');
    }
    const reusable = failure === undefined || (failure instanceof QueryError && isStatementError(failure.cause) && !isReadOnlyRefusal(failure));
    client.release(reusable ? undefined : failure instanceof Error ? failure : new Error(String(failure)));
  }

  private readonly onBusyClientError = (err: Error): void => {
    this.logger.warn({ err: describe(err) }, 'busy PostgreSQL connection failed; its query fails and the pool drops it');
  };

  /**
   * Counts a failure; the first that concerns the whole database starts an outage, logged once.
   * A query sent before the last answer (one left on a connection that went silent) says nothing
   * about now: it is counted, and starts no outage.
   */
  private failed(err: QueryError | PoolExhaustedError, connecting: boolean, sentAt: number): void {
    const kind = databaseFailureOf(err, connecting);
    if (kind === undefined) {
      // The server answered (with an error): it is there.
      this.answered();
      return;
    }
    this.failures[kind]++;
    // A busy pool is this process's own state, not the database's.
    if (kind === 'pool_exhausted') return;
    // At max_connections the connections already open still answer: queries fail and succeed in
    // turn, so an outage line per failure would flap. The refusals are reported as one episode.
    const refused = kind === 'too_many_connections';
    if (refused) this.refused(err);
    if (this.outage) {
      this.outage.failed++;
      if (!refused && !this.outage.logged) {
        this.outage.logged = true;
        this.logOutage(err, kind);
      }
      return;
    }
    if (sentAt < this.lastAnswer) return;
    this.outage = { since: Date.now(), failed: 1, logged: !refused };
    if (!refused) this.logOutage(err, kind);
  }

  private logOutage(err: Error, kind: DatabaseFailureKind): void {
    const advice = kind === 'read_only'
      ? `the server takes no writes (a standby, or made read-only): list the primary and its standbys in the URL with target_session_attrs=read-write (${describeHosts(this.target)} now), and queries are retried until one takes writes`
      : 'queries fail and are retried with backoff until it answers';
    this.logger.error({ err: err.message, kind, application: this.options.applicationName }, `PostgreSQL cannot be used (${kind.replaceAll('_', ' ')}): ${advice}`);
  }

  /**
   * A connection refused at the server's limit. The pool is capped at the connections it holds,
   * so queries wait for one of those instead of failing — and instead of asking the server for
   * more, each ask costing it a backend started and refused. Every `refusalQuietMs` without a
   * refusal the cap goes back to `poolSize` if the pool is below it (the cap is not what holds it)
   * or doubles if not (a probe); a refusal lowers it again. The first refusal of an episode is
   * logged at error with what to change, the cap's return to `poolSize` at warn.
   */
  private refused(err: Error): void {
    const now = Date.now();
    const pool = this.pool;
    pool.max = Math.max(1, Math.min(pool.max, pool.openCount));
    if (this.refusals) {
      this.refusals.count++;
      this.refusals.last = now;
      return;
    }
    // 53300 also comes from a role's CONNECTION LIMIT and from slots reserved for superusers.
    const message = err instanceof QueryError && err.cause instanceof Error ? err.cause.message : err.message;
    const limit = /for role/.test(message) ? "this role's CONNECTION LIMIT" : /reserved/.test(message) ? 'max_connections less the slots reserved for superusers' : 'max_connections';
    this.logger.error(
      { err: err.message, kind: 'too_many_connections', poolSize: this.options.poolSize, cappedAt: pool.max, application: this.options.applicationName },
      `PostgreSQL refuses new connections (too many connections: ${limit}): every replica's pool (poolSize ${this.options.poolSize} here), LISTEN connection, agent and edge count; ` +
        `queries wait for the ${pool.max} connection(s) this pool holds; lower poolSize, raise the limit, or put PgBouncer in front`,
    );
    const quietMs = this.options.refusalQuietMs;
    const check = (): void => {
      const episode = this.refusals;
      if (!episode) return;
      const quietFor = Date.now() - Math.max(episode.last, episode.probed);
      if (quietFor >= quietMs) {
        if (this.pool.totalCount < pool.max || pool.max * 2 >= this.options.poolSize) {
          pool.max = this.options.poolSize;
          this.refusals = undefined;
          this.logger.warn(
            { refused: episode.count, forMs: episode.last - episode.since, poolSize: this.options.poolSize, application: this.options.applicationName },
            `PostgreSQL refused no new connection for ${quietMs} ms: the pool may open ${this.options.poolSize} again`,
          );
          return;
        }
        pool.max *= 2;
        episode.probed = Date.now();
      }
      episode.timer = setTimeout(check, quietMs - (Date.now() - Math.max(episode.last, episode.probed))).unref();
    };
    this.refusals = { since: now, last: now, probed: now, count: 1, timer: setTimeout(check, quietMs).unref() };
  }

  /** A query got an answer: an outage, if there was one, is over. */
  private answered(): void {
    this.lastAnswer = performance.now();
    const outage = this.outage;
    if (!outage) return;
    this.outage = undefined;
    if (!outage.logged) return;
    this.logger.warn({ downMs: Date.now() - outage.since, failedQueries: outage.failed, application: this.options.applicationName }, 'PostgreSQL answers again');
  }

  private async run<R>(client: pg.PoolClient, q: NamedQuery, values: readonly unknown[] | undefined, protocol: 'named' | 'simple' = 'named'): Promise<R[]> {
    const started = performance.now();
    let outcome = 'ok';
    try {
      if (protocol === 'simple') {
        await client.query(q.text);
        this.answered();
        return [];
      }
      const config: pg.QueryConfig = { text: q.text, values: values as unknown[] | undefined };
      if (this.options.preparedStatements) config.name = q.name;
      const result = await client.query(config);
      this.answered();
      return result.rows as R[];
    } catch (err) {
      outcome = 'error';
      const failure = new QueryError(q.name, err);
      this.failed(failure, false, started);
      throw failure;
    } finally {
      const durationMs = Math.round(performance.now() - started);
      // Name and duration only: parameter values may hold secrets.
      if (durationMs > this.options.slowQueryMs) this.logger.warn({ query: q.name, durationMs, outcome }, 'slow query');
    }
  }
}

/** A server-reported statement error: the session survives it (FATAL/PANIC end the session). */
function isStatementError(err: unknown): boolean {
  return err instanceof pg.DatabaseError && err.severity === 'ERROR';
}

/** The parts of a connection error worth logging; pg errors hold no parameter values. */
function describe(err: Error): { message: string; code?: string } {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? { message: err.message, code } : { message: err.message };
}
