/** Thrown for a command line that cannot be run as given; `tend` exits with code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
