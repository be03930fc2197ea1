/**
 * Every connection of the pool stayed busy for the whole wait. Not a crash: the caller should
 * back off and retry (a reconcile throws it and the queue's rate limiter spaces the retry).
 */
export class PoolExhaustedError extends Error {
  override readonly name = 'PoolExhaustedError';

  /** `queryName` is what was waiting; the sizes go into the message so the log explains itself. */
  constructor(
    readonly queryName: string,
    readonly poolSize: number,
    readonly waitedMs: number,
  ) {
    super(
      `query ${queryName}: all ${poolSize} PostgreSQL connections stayed busy for ${waitedMs} ms ` +
        `(poolSize ${poolSize}, connectionWaitMs ${waitedMs}); back off and retry`,
    );
  }
}
