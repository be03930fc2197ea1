// A dependency-free HTTP server for the examples: answers "hello from <instance>" on every path
// and "ok" on /healthz. tend passes PORT and TEND_INSTANCE; with DATA_DIR set it also counts
// visits in $DATA_DIR/visits, so the count survives restarts (see examples/volume.yaml).
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';

const port = Number(process.env.PORT ?? 8080);
const instance = process.env.TEND_INSTANCE ?? `${hostname()}-${process.pid}`;
const visitsFile = process.env.DATA_DIR ? join(process.env.DATA_DIR, 'visits') : undefined;

function countVisit() {
  if (!visitsFile) return '';
  appendFileSync(visitsFile, '.');
  return ` (visit ${readFileSync(visitsFile, 'utf8').length})`;
}

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from ${instance}${countVisit()}\n`);
});

server.listen(port, () => console.log(`hello-server ${instance} listening on :${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
