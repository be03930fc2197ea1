import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { MigrationError, PoolExhaustedError, QueryError, databaseFailureOf, passesWithTime } from '../../../../framework/store/index.js';

/** A server error as pg builds it from an ErrorResponse. */
function serverError(code: string, severity: string, message = 'x'): pg.DatabaseError {
  const err = new pg.DatabaseError(message, message.length, 'error');
  err.code = code;
  err.severity = severity;
  return err;
}
const socketError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code });

describe('what a failed query says about the database', () => {
  it('leaves a statement error to the statement', () => {
    expect(databaseFailureOf(new QueryError('q', serverError('23505', 'ERROR')), false)).toBeUndefined();
    expect(databaseFailureOf(new QueryError('q', serverError('57014', 'ERROR', 'canceling statement due to statement timeout')), false)).toBeUndefined();
  });

  it('tells an unreachable server from a connection lost under a query', () => {
    expect(databaseFailureOf(new QueryError('q', socketError('ECONNREFUSED')), true)).toBe('unreachable');
    expect(databaseFailureOf(new QueryError('q', new Error('Connection terminated due to connection timeout')), true)).toBe('unreachable');
    expect(databaseFailureOf(new QueryError('q', serverError('57P03', 'FATAL', 'the database system is starting up')), true)).toBe('unreachable');
    expect(databaseFailureOf(new QueryError('q', socketError('ECONNRESET')), false)).toBe('connection_lost');
    expect(databaseFailureOf(new QueryError('q', new Error('Connection terminated unexpectedly')), false)).toBe('connection_lost');
    expect(databaseFailureOf(new QueryError('q', serverError('57P01', 'FATAL', 'terminating connection due to administrator command')), false)).toBe('connection_lost');
  });

  it('names max_connections, a silent connection and a busy pool', () => {
    expect(databaseFailureOf(new QueryError('q', serverError('53300', 'FATAL', 'sorry, too many clients already')), true)).toBe('too_many_connections');
    expect(databaseFailureOf(new QueryError('q', new Error('Query read timeout')), false)).toBe('no_answer');
    expect(databaseFailureOf(new PoolExhaustedError('q', 2, 5_000), true)).toBe('pool_exhausted');
    // A write refused by a standby or a primary made read-only: the server, not the statement.
    expect(databaseFailureOf(new QueryError('q', serverError('25006', 'ERROR', 'cannot execute INSERT in a read-only transaction')), false)).toBe('read_only');
  });

  it('waits out an unreachable or full server, never a refused login, a missing database or a statement', () => {
    expect(passesWithTime(new QueryError('q', socketError('ECONNREFUSED')))).toBe(true);
    expect(passesWithTime(new QueryError('q', serverError('53300', 'FATAL', 'sorry, too many clients already')))).toBe(true);
    expect(passesWithTime(new QueryError('q', serverError('57P03', 'FATAL', 'the database system is starting up')))).toBe(true);
    expect(passesWithTime(new PoolExhaustedError('q', 2, 5_000))).toBe(true);
    expect(passesWithTime(new QueryError('q', serverError('28P01', 'FATAL', 'password authentication failed for user "tend"')))).toBe(false);
    expect(passesWithTime(new QueryError('q', serverError('3D000', 'FATAL', 'database "tend" does not exist')))).toBe(false);
    expect(passesWithTime(new QueryError('q', serverError('42P01', 'ERROR', 'relation "x" does not exist')))).toBe(false);
    expect(passesWithTime(new MigrationError('000003_x.sql was changed after it was applied'))).toBe(false);
  });
});
