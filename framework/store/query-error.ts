import pg from 'pg';

/**
 * A query failed. The message names the query (never its parameter values); `code` is the
 * PostgreSQL SQLSTATE when the server answered (`23505` unique violation, `57014` cancelled by
 * statement timeout …) and absent when the connection itself failed.
 */
export class QueryError extends Error {
  override readonly name = 'QueryError';
  /** SQLSTATE from the server, e.g. `23505`; absent for connection failures. */
  readonly code: string | undefined;

  /** Wraps `cause` (what pg threw) for the query called `queryName`. */
  constructor(
    readonly queryName: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`query ${queryName} failed: ${reason}`, { cause });
    // Node's socket errors carry a `code` too (ECONNREFUSED, EPIPE); only the server's SQLSTATE is kept.
    this.code = cause instanceof pg.DatabaseError ? cause.code : undefined;
  }
}
