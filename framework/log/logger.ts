/**
 * @module
 * Logging: pino JSON lines, one process logger with the replica's name on every line and secrets
 * redacted; controllers log through `ctx.log`, a child carrying controller, key and reconcileId.
 *
 * ```ts
 * const logger = createLogger({ level: 'info', replica: 'tend-0' });
 * logger.child({ controller: 'app' }).info({ key }, 'reconciled');
 * ```
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** @default 'info' */
  readonly level?: string;
  /** Replica name on every line. */
  readonly replica?: string;
  /** @default stdout */
  readonly destination?: DestinationStream;
}

/** Keys whose values never reach a log line (secrets in env, tokens, passwords). */
const REDACT = ['*.password', '*.token', '*.env', 'spec.env', 'connectionString', '*.connectionString'];

/** The process logger: structured pino JSON, secrets redacted. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: options.replica ? { replica: options.replica } : {},
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
