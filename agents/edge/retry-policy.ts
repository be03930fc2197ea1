/**
 * What a failed upstream attempt means: what kind of failure it was (for the metric), whether the
 * backend should be ejected, and whether the request may go to another backend. Pure.
 *
 * A retry is safe only when repeating the request cannot do harm twice and nobody has seen half
 * of it: the method is idempotent (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, PUT, DELETE, TRACE), the
 * request has no body (the edge streams bodies and keeps no copy, so a body already handed to the
 * failed attempt cannot be sent again), and the client has received nothing yet. One retry, on a
 * different backend: a second failure in a row is more likely the request than the backend.
 */

/** How an upstream attempt failed; the `kind` label of `tend_edge_upstream_errors_total`. */
export type UpstreamErrorKind =
  /** The backend is not there: connection refused, host or network unreachable. */
  | 'refused'
  /** No connection within the connect timeout. */
  | 'connect_timeout'
  /** The backend said nothing for the upstream timeout while the request was in flight (504). */
  | 'timeout'
  /** The connection broke (reset, hang-up) after it was made. */
  | 'reset'
  /** Anything else (a malformed response, a local error). */
  | 'other';

export const UPSTREAM_ERROR_KINDS: readonly UpstreamErrorKind[] = ['refused', 'connect_timeout', 'timeout', 'reset', 'other'];

/** The error code the edge gives its own connect timeout (Node has none for it). */
export const CONNECT_TIMEOUT_CODE = 'TEND_EDGE_CONNECT_TIMEOUT';
/** The error code of the edge's upstream (response) timeout. */
export const UPSTREAM_TIMEOUT_CODE = 'TEND_EDGE_UPSTREAM_TIMEOUT';

const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EHOSTDOWN']);
const RESET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Sorts a Node socket or http error into a kind. */
export function classifyUpstreamError(err: unknown): UpstreamErrorKind {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return 'other';
  if (code === CONNECT_TIMEOUT_CODE) return 'connect_timeout';
  if (code === UPSTREAM_TIMEOUT_CODE) return 'timeout';
  if (REFUSED.has(code)) return 'refused';
  // Node's "socket hang up" (the peer closed before a response) carries ECONNRESET too.
  if (RESET.has(code)) return 'reset';
  return 'other';
}

/**
 * Whether the failure says the backend is gone (eject it) rather than that one connection
 * broke: only a failure to connect does. A reset may be one request's fault or a stale
 * keep-alive connection.
 */
export function shouldEject(kind: UpstreamErrorKind): boolean {
  return kind === 'refused' || kind === 'connect_timeout';
}

/** What is known about a request when its attempt failed. */
export interface FailedAttempt {
  readonly method: string;
  /** Whether the request has a body (Content-Length > 0 or any Transfer-Encoding). */
  readonly hasBody: boolean;
  /** Whether any part of the response (status line included) has gone to the client. */
  readonly responseStarted: boolean;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly kind: UpstreamErrorKind;
}

/** Whether the request may be sent again, to another backend. */
export function mayRetry(failed: FailedAttempt): boolean {
  return (
    failed.attempt === 1 &&
    // A backend that timed out may still be working on the request: sending it again doubles the load.
    failed.kind !== 'other' &&
    failed.kind !== 'timeout' &&
    !failed.responseStarted &&
    !failed.hasBody &&
    IDEMPOTENT.has(failed.method.toUpperCase())
  );
}

/** Whether request headers announce a body (RFC 9112 §6.3). */
export function hasRequestBody(headers: { readonly [name: string]: string | string[] | undefined }): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}
