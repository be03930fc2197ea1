/**
 * `tend edge --listen ADDR [--https-listen ADDR]`: the edge proxy, plain HTTP and HTTPS. Reads its
 * routes and certificates from PostgreSQL only. SIGTERM drains: no new connections, requests in
 * flight finish (up to --drain-ms), exit 0. `tend edge keygen FILE` makes the certificates key.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CERTIFICATES_SNAPSHOT_FILE, DEFAULT_CLIENT_LIMITS, SNAPSHOT_FILE, TrustedProxies, formatListenAddress, parseListenAddress, runEdge, type ListenAddress } from '../agents/edge/index.js';
import { CERTIFICATES_KEY_FILE } from '../certificates/certificates-key.js';
import { createLogger, holdOpen, Store } from '../framework/index.js';
import { loadSealingKey } from '../secrets/key-file.js';
import type { SealingKey } from '../secrets/seal.js';
import { runKeygen } from './edge-keygen.js';
import { resolveAgentConnection } from './credentials.js';
import { runEnroll } from './enroll.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';
import { wholeNumber } from './whole-number.js';

/** Usage text of the verb. */
export const EDGE_USAGE = `Usage: tend edge [options]
       tend edge enroll NAME [options]   (see: tend edge enroll --help)
       tend edge keygen FILE [--database-url URL]   (see: tend edge keygen --help)

Run the edge: route requests by host and path prefix to the healthy instances in
platform.routing, reloading on every change; with --https-listen also HTTPS, each host with the
certificate its Route's spec.tls gives (platform.certificates, chosen by SNI; a host without one
gets no handshake). Prints where it listens.

Options:
  --listen HOST:PORT        where the proxy listens (default: 127.0.0.1:8080; :8080 for all interfaces)
  --https-listen HOST:PORT  where it listens for HTTPS (default: none, plain HTTP only)
  --certificates-key-file FILE  the certificates key that opens the stored private keys (0600, from
                            tend edge keygen; the same file on every edge; default: STATE-DIR/certificates.key
                            when it exists)
  --https-public-port N     the HTTPS port clients reach, for redirects to https (default: that of --https-listen)
  --admin-listen HOST:PORT  /healthz, /readyz and /metrics (default: 127.0.0.1:0, a free port)
  --state-dir DIR           where the last routing table and certificates read are kept (DIR/routing.json,
                            DIR/certificates.json, mode 0600, private keys only sealed) and served from when
                            PostgreSQL cannot be reached at start (default: .tend/edge)
  --credentials-file FILE   this edge's login, from tend edge enroll NAME (default: $TEND_CREDENTIALS_FILE)
  --database-url URL        PostgreSQL without a credentials file, a direct connection for LISTEN
                            (default: $DATABASE_URL); a password here is visible to every local user
  --check-ms N              check platform.routing_version this often, healing lost notifications (default: 5000)
  --eject-ms N              keep a backend that refused a connection out of rotation this long (default: 5000)
  --connect-timeout-ms N    longest wait for a connection to a backend (default: 5000)
  --drain-ms N              on SIGTERM, how long requests in flight may take to finish (default: 10000)
  --membership-heartbeat-ms N  how often this edge renews its row among the running edges and reads
                            theirs, dividing each Route's rate limit among them; an edge silent for three
                            periods stops counting (default: 1000)
  --header-timeout-ms N     a client must send its request headers within this, else 408 (default: 10000)
  --request-timeout-ms N    a client must send its whole request (body included) within this (default: 300000)
  --keep-alive-timeout-ms N close a client connection idle this long between requests (default: 75000)
  --upstream-timeout-ms N   a backend silent this long while a request is in flight: 504, or the
                            response is cut if it began (default: 60000)
  --websocket-idle-ms N     close a WebSocket with no traffic either way for this long (default: 300000)
  --max-connections N       client connections open at once; more are closed on accept (default: 10000)
  --trusted-proxies LIST    comma-separated addresses or CIDR blocks (10.0.0.0/8,::1) whose
                            X-Forwarded-For, X-Forwarded-Proto, -Host and Forwarded headers are kept
                            and extended; from anyone else they are replaced (default: none)
  --log-level LEVEL         trace|debug|info|warn|error; info logs one line per request (default: info)
  -h, --help                show this help`;

/** Run `tend edge`; resolves with the exit code once the edge has stopped. */
export async function runEdgeVerb(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (args[0] === 'enroll') return runEnroll('edge', args.slice(1), io, env);
  if (args[0] === 'keygen') return runKeygen(args.slice(1), io, env);
  const { values } = parseVerbArgs('edge', args, {
    listen: { type: 'string' },
    'https-listen': { type: 'string' },
    'certificates-key-file': { type: 'string' },
    'https-public-port': { type: 'string' },
    'credentials-file': { type: 'string' },
    'admin-listen': { type: 'string' },
    'state-dir': { type: 'string' },
    'database-url': { type: 'string' },
    'check-ms': { type: 'string' },
    'eject-ms': { type: 'string' },
    'connect-timeout-ms': { type: 'string' },
    'drain-ms': { type: 'string' },
    'membership-heartbeat-ms': { type: 'string' },
    'header-timeout-ms': { type: 'string' },
    'request-timeout-ms': { type: 'string' },
    'keep-alive-timeout-ms': { type: 'string' },
    'upstream-timeout-ms': { type: 'string' },
    'websocket-idle-ms': { type: 'string' },
    'max-connections': { type: 'string' },
    'trusted-proxies': { type: 'string' },
    'log-level': { type: 'string' },
  });
  if (values.help) {
    io.out(EDGE_USAGE);
    return EXIT.ok;
  }
  const { databaseUrl } = resolveAgentConnection('edge', 'edge', values, env, io);
  const listen = address(values.listen ?? '127.0.0.1:8080', 'listen');
  const adminListen = address(values['admin-listen'] ?? '127.0.0.1:0', 'admin-listen');
  const httpsListen = values['https-listen'] === undefined ? undefined : address(values['https-listen'], 'https-listen');
  const httpsPublicPort = whole(values['https-public-port'], 'https-public-port', 1);
  const numbers = {
    checkMs: whole(values['check-ms'], 'check-ms', 1),
    ejectMs: whole(values['eject-ms'], 'eject-ms', 0),
    connectTimeoutMs: whole(values['connect-timeout-ms'], 'connect-timeout-ms', 1),
    drainMs: whole(values['drain-ms'], 'drain-ms', 0),
    membershipHeartbeatMs: whole(values['membership-heartbeat-ms'], 'membership-heartbeat-ms', 10),
  };
  const limits = {
    headerTimeoutMs: whole(values['header-timeout-ms'], 'header-timeout-ms', 1),
    requestTimeoutMs: whole(values['request-timeout-ms'], 'request-timeout-ms', 1),
    keepAliveTimeoutMs: whole(values['keep-alive-timeout-ms'], 'keep-alive-timeout-ms', 1),
    upstreamTimeoutMs: whole(values['upstream-timeout-ms'], 'upstream-timeout-ms', 1),
    webSocketIdleTimeoutMs: whole(values['websocket-idle-ms'], 'websocket-idle-ms', 1),
    maxConnections: whole(values['max-connections'], 'max-connections', 1),
  };
  const headers = limits.headerTimeoutMs ?? DEFAULT_CLIENT_LIMITS.headerTimeoutMs;
  const request = limits.requestTimeoutMs ?? DEFAULT_CLIENT_LIMITS.requestTimeoutMs;
  if (headers > request) throw new UsageError(`edge: --header-timeout-ms (${headers}) must not exceed --request-timeout-ms (${request})`);
  const trustedProxies = trusted(values['trusted-proxies']);
  const stateDir = resolve(values['state-dir'] ?? '.tend/edge');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const keyFile = values['certificates-key-file'] ?? (existsSync(join(stateDir, CERTIFICATES_KEY_FILE)) ? join(stateDir, CERTIFICATES_KEY_FILE) : undefined);
  let certificatesKey: SealingKey | undefined;
  if (keyFile) {
    try {
      certificatesKey = loadSealingKey(keyFile);
    } catch (err) {
      throw new UsageError(`edge: --certificates-key-file: ${(err as Error).message}`);
    }
  } else if (httpsListen) {
    io.err(`tend edge: warning: no certificates key (--certificates-key-file, or ${join(stateDir, CERTIFICATES_KEY_FILE)}): no host can be served over HTTPS; make one with tend edge keygen FILE`);
  }
  const logger = createLogger({ level: values['log-level'] ?? 'info', replica: 'edge' });
  const store = new Store({ connectionString: databaseUrl, logger, applicationName: 'tend edge', poolSize: 2 });
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop.abort());
  holdOpen(stop.signal);
  try {
    await runEdge(
      {
        store,
        listenUrl: databaseUrl,
        logger,
        listen,
        ...(httpsListen ? { httpsListen } : {}),
        ...(certificatesKey ? { certificatesKey } : {}),
        ...(httpsPublicPort !== undefined ? { httpsPublicPort } : {}),
        adminListen,
        ...numbers,
        limits,
        trustedProxies,
        snapshotFile: join(stateDir, SNAPSHOT_FILE),
        certificatesSnapshotFile: join(stateDir, CERTIFICATES_SNAPSHOT_FILE),
        onListening: (edge) =>
          io.out(`tend edge: proxy ${formatListenAddress(edge.address)}${edge.httpsAddress ? `, https ${formatListenAddress(edge.httpsAddress, 'https')}` : ''}, admin ${formatListenAddress(edge.adminAddress)}`),
      },
      stop.signal,
    );
  } finally {
    await store.close();
  }
  return EXIT.ok;
}

function address(text: string, flag: string): ListenAddress {
  try {
    return parseListenAddress(text);
  } catch (err) {
    throw new UsageError(`edge: --${flag}: ${(err as Error).message}`);
  }
}

function trusted(text: string | undefined): TrustedProxies | undefined {
  if (text === undefined) return undefined;
  try {
    return TrustedProxies.parse(text.split(',').filter((e) => e.trim() !== ''));
  } catch (err) {
    throw new UsageError(`edge: --trusted-proxies: ${(err as Error).message}`);
  }
}

function whole(text: string | undefined, flag: string, min: number): number | undefined {
  return text === undefined ? undefined : wholeNumber('edge', flag, text, min);
}
