import { pino, type Logger } from 'pino';

/** How a `Store` connects and when it complains. Everything but `connectionString` is optional. */
export interface StoreOptions {
  /** `postgres://user:password@host:port/database?…`; the only required option. */
  readonly connectionString: string;
  /**
   * Connections in this process's pool. Every replica has its own pool, so the server sees
   * `replicas × poolSize` connections; hence the cap.
   * @default 10 (at most 20)
   */
  readonly poolSize?: number;
  /**
   * Server-side `statement_timeout` for every connection, in ms; 0 disables it.
   * @default 30_000
   */
  readonly statementTimeoutMs?: number;
  /**
   * Client-side: a query with no answer at all for this long fails (`no_answer`) and its
   * connection is dropped. Only a silent connection (a partition, a dead peer behind a NAT) gets
   * there: the server ends a slow statement at `statementTimeoutMs` itself. 0 disables it.
   * @default statementTimeoutMs + 5_000 (0 when statementTimeoutMs is 0)
   */
  readonly queryTimeoutMs?: number;
  /**
   * Queries slower than this are logged at warn with their name and duration (never their values).
   * @default 200
   */
  readonly slowQueryMs?: number;
  /**
   * How long a query waits for a free connection when all are busy before `PoolExhaustedError`.
   * @default 5_000
   */
  readonly connectionWaitMs?: number;
  /**
   * Refused connections (the server at max_connections) less than this apart are one episode:
   * logged once when it starts and once this long after the last refusal.
   * @default 10_000
   */
  readonly refusalQuietMs?: number;
  /**
   * `application_name` shown in `pg_stat_activity`.
   * @default 'tend'
   */
  readonly applicationName?: string;
  /**
   * Send each query's name so pg prepares it once per connection. Set false behind a PgBouncer in
   * transaction pooling mode, where the next statement may run on a connection that never saw
   * the prepare.
   * @default true
   */
  readonly preparedStatements?: boolean;
  /**
   * Where slow queries and dropped connections are reported.
   * @default a silent logger
   */
  readonly logger?: Logger;
}

/** `StoreOptions` with every default filled in and every value checked. */
export interface CompiledStoreOptions {
  readonly connectionString: string;
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
  readonly queryTimeoutMs: number;
  readonly slowQueryMs: number;
  readonly connectionWaitMs: number;
  readonly refusalQuietMs: number;
  readonly applicationName: string;
  readonly preparedStatements: boolean;
  readonly logger: Logger;
}

/** The limit: 20 connections per process keeps `replicas × poolSize` under max_connections. */
export const MAX_POOL_SIZE = 20;

/** Fills in defaults and validates once; throws a `TypeError` whose message names the option. */
export function compileStoreOptions(options: StoreOptions): CompiledStoreOptions {
  if (typeof options?.connectionString !== 'string' || options.connectionString.trim() === '') {
    throw new TypeError('store: connectionString is required (postgres://user:password@host:port/database)');
  }
  const poolSize = options.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > MAX_POOL_SIZE) {
    throw new TypeError(
      `store: poolSize must be an integer from 1 to ${MAX_POOL_SIZE}, got ${String(poolSize)} ` +
        `(every replica opens its own pool; raise replicas, not the pool, or put PgBouncer in front)`,
    );
  }
  const applicationName = options.applicationName ?? 'tend';
  // PostgreSQL truncates application_name at 63 bytes and replaces non-ASCII with '?'.
  if (typeof applicationName !== 'string' || applicationName === '' || !/^[\x20-\x7e]{1,63}$/.test(applicationName)) {
    throw new TypeError(`store: applicationName must be 1 to 63 printable ASCII characters, got ${JSON.stringify(applicationName)}`);
  }
  const preparedStatements = options.preparedStatements ?? true;
  if (typeof preparedStatements !== 'boolean') {
    throw new TypeError(`store: preparedStatements must be true or false, got ${String(preparedStatements)}`);
  }
  const statementTimeoutMs = milliseconds('statementTimeoutMs', options.statementTimeoutMs ?? 30_000, 0);
  return {
    connectionString: options.connectionString,
    poolSize,
    statementTimeoutMs,
    queryTimeoutMs: milliseconds('queryTimeoutMs', options.queryTimeoutMs ?? (statementTimeoutMs === 0 ? 0 : Math.min(statementTimeoutMs + 5_000, 2 ** 31 - 1)), 0),
    slowQueryMs: milliseconds('slowQueryMs', options.slowQueryMs ?? 200, 0),
    connectionWaitMs: milliseconds('connectionWaitMs', options.connectionWaitMs ?? 5_000, 1),
    refusalQuietMs: milliseconds('refusalQuietMs', options.refusalQuietMs ?? 10_000, 1),
    applicationName,
    preparedStatements,
    logger: options.logger ?? pino({ level: 'silent' }),
  };
}

function milliseconds(option: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min || value > 2 ** 31 - 1) {
    throw new TypeError(`store: ${option} must be a whole number of milliseconds from ${min} to ${2 ** 31 - 1}, got ${String(value)}`);
  }
  return value;
}
