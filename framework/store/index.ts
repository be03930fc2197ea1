/**
 * @module
 * The PostgreSQL layer: one pool per process, named queries, transactions, and forward-only
 * migrations that many replicas may run at once.
 *
 * Design notes
 * - SQL is plain and parameterised, in `NamedQuery` constants next to the code that runs it. The
 *   name labels the slow-query log and every error; parameter values are never logged.
 * - Failures are ordinary errors, never crashes: `QueryError` names the query and carries the
 *   SQLSTATE; `PoolExhaustedError` says every connection stayed busy — back off and retry.
 * - A server restart costs the queries in flight, not the process: dead connections are dropped
 *   and the next query opens a new one. A silent connection fails at the query timeout instead of
 *   hanging; the first failure that concerns the whole database (unreachable, too many
 *   connections, a connection lost or silent) is logged once, and so is the first answer after it;
 *   `health()` counts them by kind for the metrics.
 * - A URL may list a primary and its standbys, as libpq reads it
 *   (`postgres://h1:5432,h2:5432/tend?target_session_attrs=read-write`): the pool and every
 *   `connectClient` go to whichever host takes writes and find the new one after a failover
 *   (`database-url.ts` parses, `host-pool.ts` and `connect-client.ts` connect).
 * - Migrations come in tracks, each a numbered sequence with its own `<schema>.migrations` table:
 *   the framework's (`frameworkMigrations`, schema tend) and each user's, so a third party's
 *   numbers never collide with the framework's next release.
 * - Only transaction-scoped state (`pg_advisory_xact_lock`, `set local`): behind a PgBouncer in
 *   transaction mode a session-level lock or setting would stick to someone else's connection.
 *   Turn `preparedStatements` off there too.
 *
 * ```ts
 * import { Store, migrate, frameworkMigrations, type NamedQuery } from './framework/store/index.js';
 *
 * const countApps: NamedQuery = { name: 'app.count', text: 'select count(*)::int as n from platform.apps where tenant = $1' };
 *
 * await using store = new Store({ connectionString: databaseUrl, logger });
 * // Two tracks: the framework's (tend.migrations), then the platform's own (platform.migrations).
 * await migrate(store, { tracks: [frameworkMigrations, { folders: [platformMigrationsFolder], schema: 'platform' }] });
 * const [{ n }] = await store.query<{ n: number }>(countApps, ['acme']);
 * await store.tx(async (tx) => {
 *   await tx.query(insertApp, ['acme', 'web']);
 *   await tx.query(bumpTenantVersion, ['acme']);
 * });
 * ```
 */
export type { NamedQuery } from './named-query.js';
export { Store, type Queryable, type Tx, type StoreStats, type StoreHealth } from './store.js';
export { DATABASE_FAILURE_KINDS, databaseFailureOf, isReadOnlyRefusal, passesWithTime, type DatabaseFailureKind } from './database-failure.js';
export { untilDatabaseAnswers, type UntilDatabaseAnswersOptions } from './until-database-answers.js';
export { compileStoreOptions, MAX_POOL_SIZE, type StoreOptions, type CompiledStoreOptions } from './store-options.js';
export { QueryError } from './query-error.js';
export { parseDatabaseUrl, withLogin, describeHosts, hostName, type DatabaseTarget, type DatabaseHost, type TargetSessionAttrs } from './database-url.js';
export { DatabaseUrlError } from './database-url-error.js';
export { connectClient } from './connect-client.js';
export { NoAcceptableHostError } from './no-acceptable-host-error.js';
export { SESSION_CHECK_SQL, sessionRefusal, type SessionFacts } from './session-check.js';
export { PoolExhaustedError } from './pool-exhausted-error.js';
export { migrate, frameworkMigrations, frameworkMigrationsFolder, type MigrateOptions, type MigrationTrack, type AppliedMigration } from './migrate.js';
export { readMigrationFiles, type MigrationFile } from './migration-files.js';
export { MigrationError } from './migration-error.js';
export { scramSha256Verifier, generatePassword, SCRAM_ITERATIONS } from './scram-verifier.js';
