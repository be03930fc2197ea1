/**
 * No host of a database URL gave a session tend can use: each refused, timed out, or was a
 * standby (or read-only) when `target_session_attrs` asked for a primary. During a failover this
 * is what a query gets between the old primary's end and the standby's promotion: the Store
 * counts it as `unreachable`, and the caller retries with backoff.
 */
export class NoAcceptableHostError extends Error {
  override readonly name = 'NoAcceptableHostError';

  /** `reasons`: `host:port` → why it was not taken, in the order tried. */
  constructor(
    readonly wanted: string,
    readonly reasons: ReadonlyMap<string, string>,
  ) {
    super(`no host gave a ${wanted} session: ${[...reasons].map(([host, why]) => `${host}: ${why}`).join('; ')}`);
  }
}
