/**
 * What a failed query says about the database as a whole, as opposed to about the statement:
 * a constraint violation or a statement timeout is the statement's business, a refused connection
 * or a silent one is everybody's. The Store counts these (metric `tend_db_errors_total{kind}`)
 * and logs when PostgreSQL stops and starts answering. Pure: unit-tested.
 */
import pg from 'pg';
import { PoolExhaustedError } from './pool-exhausted-error.js';
import { QueryError } from './query-error.js';

/** Why PostgreSQL could not be used; the `kind` label. */
export type DatabaseFailureKind =
  /** No connection could be opened: refused, unreachable, timed out, or the server is starting or stopping. */
  | 'unreachable'
  /** The server is at max_connections: every process's pools together ask for more than it allows. */
  | 'too_many_connections'
  /** An open connection died, under a query or idle in the pool (reset, terminated, the server shut down). */
  | 'connection_lost'
  /** An open connection gave no answer within the query timeout: a partition, or a dead peer. */
  | 'no_answer'
  /** This process's own pool had no free connection within the wait. */
  | 'pool_exhausted'
  /** The server refused a write as read-only (SQLSTATE 25006): a standby, or a primary made read-only or demoted. */
  | 'read_only';

/** Every kind, for pre-initialised metric series. */
export const DATABASE_FAILURE_KINDS: readonly DatabaseFailureKind[] = ['unreachable', 'too_many_connections', 'connection_lost', 'no_answer', 'pool_exhausted', 'read_only'];

// SQLSTATEs that are about the server, not the statement (class 08 connection exception, 53300,
// 57P01-57P03 admin/crash shutdown and cannot-connect-now).
const TOO_MANY = '53300';
const READ_ONLY = '25006';
const SERVER_GOING = new Set(['57P01', '57P02', '57P03']);

/**
 * The kind of database failure `err` is, or undefined when it is the statement's own (a server
 * ERROR: the connection and the database are fine). `connecting` says whether it happened while
 * opening a connection.
 */
export function databaseFailureOf(err: unknown, connecting: boolean): DatabaseFailureKind | undefined {
  if (err instanceof PoolExhaustedError) return 'pool_exhausted';
  const cause = err instanceof QueryError ? err.cause : err;
  if (cause instanceof pg.DatabaseError) {
    if (cause.code === TOO_MANY) return 'too_many_connections';
    if (cause.code === READ_ONLY) return 'read_only';
    if (cause.code !== undefined && (cause.code.startsWith('08') || SERVER_GOING.has(cause.code))) return connecting ? 'unreachable' : 'connection_lost';
    // FATAL and PANIC end the session; a plain ERROR is the statement's.
    if (cause.severity === 'FATAL' || cause.severity === 'PANIC') return connecting ? 'unreachable' : 'connection_lost';
    return undefined;
  }
  if (cause instanceof Error && cause.message === 'Query read timeout') return 'no_answer';
  // Anything else is the socket's: refused, reset, DNS, a connect that timed out, a stream ended.
  return connecting ? 'unreachable' : 'connection_lost';
}

/** Whether `err` is a write refused because the session is read-only (25006 read_only_sql_transaction). */
export function isReadOnlyRefusal(err: unknown): boolean {
  const cause = err instanceof QueryError ? err.cause : err;
  return cause instanceof pg.DatabaseError && cause.code === READ_ONLY;
}

/**
 * Whether waiting can cure `err`, the failure of a query: one that concerns the whole database,
 * except a refused login or a missing database (SQLSTATE classes 28 and 3D), which no wait fixes.
 * Anything but a query's failure (a MigrationError, a bug) is never waited out.
 */
export function passesWithTime(err: unknown): boolean {
  if (!(err instanceof QueryError || err instanceof PoolExhaustedError)) return false;
  const cause = err instanceof QueryError ? err.cause : err;
  if (cause instanceof pg.DatabaseError && /^(28|3D)/.test(cause.code ?? '')) return false;
  return databaseFailureOf(err, true) !== undefined;
}
