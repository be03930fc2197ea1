/**
 * Migrations cannot run, or must not: a broken or changed file, a duplicate number, or a
 * database newer than this code. The message names the file; the process should stop rather
 * than run against a schema it does not understand.
 */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';

  /** `file` is the migration's path when one file is to blame. */
  constructor(
    message: string,
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
