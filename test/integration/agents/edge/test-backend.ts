/** A real HTTP backend for the edge tests: says who it is and what it received; echoes WebSockets. */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Backend } from '../../../../agents/edge/routing-table.js';

/** What the default handler answers, as JSON. */
export interface Echo {
  readonly backend: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly bodyBytes: number;
}

export interface TestBackend {
  readonly name: string;
  readonly port: number;
  /** This backend as a routing row lists it. */
  readonly row: Backend;
  /** Requests that reached it, in order (upgrades included). */
  readonly seen: IncomingMessage[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Starts a backend on 127.0.0.1; `handler` replaces the echo. */
export async function startBackend(name: string, handler?: Handler): Promise<TestBackend> {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    if (handler) return handler(req, res);
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
    req.on('end', () => {
      const echo: Echo = { backend: name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(echo));
    });
  });
  // A minimal WebSocket server: the RFC 6455 handshake, then every byte echoed back.
  server.on('upgrade', (req, socket) => {
    seen.push(req);
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Backend: ${name}\r\n\r\n`);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    port,
    row: { address: '127.0.0.1', port, instance: name },
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
