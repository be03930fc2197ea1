/** An error answer from the resource server, with its HTTP-like status code. */
export class ApiError extends Error {
  override readonly name: string = 'ApiError';
  constructor(
    message: string,
    readonly code: number,
    /** The server's machine-readable reason (`Conflict`, `Invalid`, …) when it gave one. */
    readonly reason?: string,
    /** Field-level causes of an `Invalid` answer. */
    readonly causes: readonly { field?: string; message?: string }[] = [],
  ) {
    super(message);
  }
}

/** The object changed since it was read: re-read and try again (quickly, it is not a failure). */
export class ConflictError extends ApiError {
  override readonly name = 'ConflictError';
}

/** The object does not exist. */
export class NotFoundError extends ApiError {
  override readonly name = 'NotFoundError';
}

/** The watch's resourceVersion is too old to continue from: list again. */
export class GoneError extends ApiError {
  override readonly name = 'GoneError';
}

/** Maps a status code (and message) to the most specific error class. */
export function apiError(message: string, code: number, reason?: string, causes?: ApiError['causes']): ApiError {
  if (code === 409) return new ConflictError(message, code, reason, causes);
  if (code === 404) return new NotFoundError(message, code, reason, causes);
  if (code === 410) return new GoneError(message, code, reason, causes);
  return new ApiError(message, code, reason, causes);
}
