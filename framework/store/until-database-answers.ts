import type { Logger } from 'pino';
import { backoffDelay } from '../time/backoff.js';
import { holdOpen } from '../time/hold-open.js';
import { sleep } from '../time/sleep.js';
import { passesWithTime } from './database-failure.js';

/** How long to wait between attempts. */
export interface UntilDatabaseAnswersOptions {
  readonly logger: Logger;
  /** Stops waiting: the promise rejects with the signal's reason. */
  readonly signal: AbortSignal;
  /** @default 1_000 */
  readonly firstDelayMs?: number;
  /** @default 10_000 */
  readonly maxDelayMs?: number;
}

/**
 * Runs `fn` (a process's first queries: migrations) again, with backoff, for as long as it fails
 * for want of the database — unreachable, or full at max_connections, as when a rolling update
 * starts a replica beside the ones it replaces — so the process waits instead of exiting and
 * being restarted in a loop. Errors no wait cures (a wrong password, a migration refused) are
 * thrown at once. The Store logs the database's failure; this logs once that it is waiting.
 */
export async function untilDatabaseAnswers<T>(fn: () => Promise<T>, options: UntilDatabaseAnswersOptions): Promise<T> {
  const maxDelayMs = options.maxDelayMs ?? 10_000;
  // Between attempts nothing else may hold the process: the sleep's timer is unref'd, and a
  // process with no socket open would exit (code 13, a top-level await never settled).
  const waiting = new AbortController();
  holdOpen(AbortSignal.any([waiting.signal, options.signal]));
  try {
    return await attempt(fn, options, maxDelayMs);
  } finally {
    waiting.abort();
  }
}

async function attempt<T>(fn: () => Promise<T>, options: UntilDatabaseAnswersOptions, maxDelayMs: number): Promise<T> {
  const policy = { baseDelayMs: options.firstDelayMs ?? 1_000, maxDelayMs };
  for (let attempts = 1; ; attempts++) {
    try {
      return await fn();
    } catch (err) {
      if (!passesWithTime(err)) throw err;
      if (attempts === 1) options.logger.warn({ err: (err as Error).message }, 'waiting for PostgreSQL before starting; retrying with backoff');
    }
    await sleep(backoffDelay(attempts, policy), options.signal);
    if (options.signal.aborted) throw options.signal.reason;
  }
}
