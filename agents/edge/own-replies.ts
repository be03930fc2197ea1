/**
 * The edge's own answers: short plain text that names no namespace or Route (a client must not
 * learn how tenants are laid out), never cached, never sniffed — 308 to https, 400, 404, 408,
 * 429 (with Retry-After), 431, 502, 503, 504. On a ServerResponse, or written on the raw socket of an upgrade request or
 * a client error (no ServerResponse exists for those).
 */
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

const TEXT = 'text/plain; charset=utf-8';
const STATUS_TEXT: Readonly<Record<number, string>> = {
  308: 'Permanent Redirect',
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Headers some of the edge's own answers carry. */
export interface ReplyHeaders {
  /** Where a 308 sends the client. */
  readonly location?: string;
  /** For a 429: whole seconds until the client may try again. */
  readonly retryAfterSeconds?: number;
}

/** A short plain-text answer of the edge's own (308, 400, 404, 429, 502, 503, 504). */
export function reply(res: ServerResponse, status: number, text: string, headers?: ReplyHeaders): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    'content-type': TEXT,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...(headers?.location ? { location: headers.location } : {}),
    ...(headers?.retryAfterSeconds !== undefined ? { 'retry-after': String(headers.retryAfterSeconds) } : {}),
  });
  res.end(body);
}

/** The same on a raw socket, for upgrade requests (no ServerResponse exists for them). */
export function replyOnSocket(socket: Duplex, status: number, text: string, headers?: ReplyHeaders): void {
  const body = `${text}\n`;
  const retryAfter = headers?.retryAfterSeconds !== undefined ? `retry-after: ${headers.retryAfterSeconds}\r\n` : '';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: ${TEXT}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `cache-control: no-store\r\n${retryAfter}connection: close\r\n\r\n${body}`,
  );
}
