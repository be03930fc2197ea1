/** A client on a bare TCP socket, for what no well-behaved HTTP client sends: trickles, raw paths. */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface RawConnection {
  readonly socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves when the server has closed the connection, with what it sent and when. */
  readonly closed: Promise<{ readonly text: string; readonly afterMs: number }>;
  /** Resolves once `text` has arrived (rejects if the connection closes first). */
  until(text: string): Promise<string>;
}

/** Connects to 127.0.0.1:`port`; resolves once connected. */
export function rawConnect(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const waiters: (() => void)[] = [];
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      for (const w of waiters.splice(0)) w();
    });
    socket.on('error', () => {}); // a reset is an answer here too
    const closed = new Promise<{ text: string; afterMs: number }>((done) =>
      socket.once('close', () => {
        for (const w of waiters.splice(0)) w();
        done({ text, afterMs: performance.now() - startedAt });
      }),
    );
    const until = (wanted: string) =>
      new Promise<string>((done, fail) => {
        const check = () => {
          if (text.includes(wanted)) return done(text);
          if (socket.destroyed) return fail(new Error(`connection closed before "${wanted}"; got ${JSON.stringify(text)}`));
          waiters.push(check);
        };
        check();
      });
    socket.once('connect', () => resolve({ socket, received: () => text, closed, until }));
    socket.once('error', reject);
  });
}

/** Sends one request with a raw target on its own connection; resolves with the status line and body once the server closes. */
export async function rawRequest(port: number, host: string, target: string): Promise<{ status: number; body: string }> {
  const conn = await rawConnect(port);
  conn.socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const { text } = await conn.closed;
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const headEnd = text.indexOf('\r\n\r\n');
  const body = text.slice(headEnd + 4);
  return { status, body: /^transfer-encoding: chunked\s*$/im.test(text.slice(0, headEnd)) ? dechunk(body) : body };
}

function dechunk(body: string): string {
  let out = '';
  for (let at = 0; ; ) {
    const lineEnd = body.indexOf('\r\n', at);
    const size = parseInt(body.slice(at, lineEnd), 16);
    if (!(size > 0)) return out;
    out += body.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}
