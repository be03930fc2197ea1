/**
 * How long and how many: the bounds the edge puts on clients and backends, so that a slow or
 * hostile client (slowloris, a huge Content-Length trickled a byte at a time, thousands of idle
 * sockets) or a backend that never answers holds a bounded share of the edge. Pure: defaults and
 * validation; `edge.ts` and `proxy.ts` apply them.
 *
 * The defaults are those of the proxies operators know: nginx's 75 s keep-alive and 60 s
 * `proxy_read_timeout`, Envoy's 10,000-ish connection budget per process; 10 s for the headers
 * (nginx's `client_header_timeout` is 60 s, Envoy has none by default and recommends setting one).
 */

/** Every bound, in milliseconds or counts. */
export interface ClientLimits {
  /** From a connection's first byte (or its last response, on keep-alive) to the end of the request headers; then 408. @default 10_000 */
  readonly headerTimeoutMs: number;
  /** From a request's first byte to the last byte of its body; then 408 (or the connection is cut if the answer began). @default 300_000 */
  readonly requestTimeoutMs: number;
  /** How long a kept-alive client connection may sit idle between requests. @default 75_000 */
  readonly keepAliveTimeoutMs: number;
  /**
   * Longest silence of a backend while a request is in flight (no byte either way, as nginx's
   * `proxy_read_timeout`): before the response starts the client gets 504, after that the
   * response is cut. Not retried: a slow backend is not a dead one. @default 60_000
   */
  readonly upstreamTimeoutMs: number;
  /** A WebSocket tunnel with no byte in either direction for this long is closed. @default 300_000 */
  readonly webSocketIdleTimeoutMs: number;
  /** Client connections open at once (WebSockets included); more are closed on accept. @default 10_000 */
  readonly maxConnections: number;
}

export const DEFAULT_CLIENT_LIMITS: ClientLimits = Object.freeze({
  headerTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 75_000,
  upstreamTimeoutMs: 60_000,
  webSocketIdleTimeoutMs: 300_000,
  maxConnections: 10_000,
});

/** Thrown for a limit out of range; names the option. */
export class ClientLimitsError extends Error {
  override readonly name = 'ClientLimitsError';
}

/** The defaults with `given` on top, checked: every value a whole number ≥ 1, headers within the request timeout. */
export function compileClientLimits(given: Partial<ClientLimits> = {}): ClientLimits {
  const limits: ClientLimits = { ...DEFAULT_CLIENT_LIMITS, ...definedOnly(given) };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new ClientLimitsError(`edge limit ${name} must be a whole number ≥ 1, got ${String(value)}`);
  }
  // Node refuses a header timeout above the request timeout (the headers are part of the request).
  if (limits.headerTimeoutMs > limits.requestTimeoutMs) {
    throw new ClientLimitsError(`edge limit headerTimeoutMs (${limits.headerTimeoutMs}) must not exceed requestTimeoutMs (${limits.requestTimeoutMs})`);
  }
  return Object.freeze(limits);
}

/**
 * How often Node's HTTP server looks for connections past their header or request timeout: a
 * timeout fires up to this much late. A quarter of the shorter one, between 50 ms and 1 s (Node's
 * own default, 30 s, would make a 10 s header timeout up to 40 s).
 */
export function timeoutCheckIntervalMs(limits: ClientLimits): number {
  return Math.min(1_000, Math.max(50, Math.floor(Math.min(limits.headerTimeoutMs, limits.requestTimeoutMs) / 4)));
}

function definedOnly(given: Partial<ClientLimits>): Partial<ClientLimits> {
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
}
