/**
 * A database URL tend cannot use as written: a malformed host list, or a libpq option tend does
 * not support (`target_session_attrs=standby`…). Thrown when a Store or a connection is made, so
 * a bad `DATABASE_URL` stops the process at start with the reason, not at the first query.
 */
export class DatabaseUrlError extends TypeError {
  override readonly name = 'DatabaseUrlError';

  /** `reason` says what is wrong and what to write instead; the URL itself is never included (it may hold a password). */
  constructor(reason: string) {
    super(`database URL: ${reason}`);
  }
}
