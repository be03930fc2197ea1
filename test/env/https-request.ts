/** HTTPS for tests: a handshake that reports the certificate served for a name, and requests with any Host. */
import { request, type Agent } from 'node:https';
import { connect, type PeerCertificate } from 'node:tls';
import type { Answer } from './http-request.js';

/** What one handshake with 127.0.0.1:`port` for `serverName` got: the certificate's SHA-256 (lower-case hex), or the error. */
export function handshake(port: number, serverName: string | undefined, ca: string): Promise<{ fingerprint: string; names: string } | { error: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ...(serverName ? { servername: serverName } : {}), ca, rejectUnauthorized: true }, () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      socket.destroy();
      resolve({ fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase(), names: cert.subjectaltname ?? '' });
    });
    socket.once('error', (err) => resolve({ error: err.message }));
  });
}

/** One HTTPS request to 127.0.0.1:`port` for `host` (SNI and Host), trusting `ca`; on `agent` when given (keep-alive). */
export function sendHttps(port: number, host: string, path: string, ca: string, agent?: Agent): Promise<Answer & { fingerprint: string; reusedSocket: boolean; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, servername: host, headers: { host }, ca, agent: agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      const socket = res.socket as import('node:tls').TLSSocket;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          fingerprint: socket.getPeerCertificate().fingerprint256.replace(/:/g, '').toLowerCase(),
          reusedSocket: req.reusedSocket,
          localPort: socket.localPort ?? 0,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
