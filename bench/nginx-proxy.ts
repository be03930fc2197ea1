/**
 * nginx as the reference reverse proxy of `npm run bench:edge`, configured as the edge works: a
 * server per host (exact names), proxying to the backend over kept-alive HTTP/1.1 connections,
 * setting the forwarding headers of a first hop (X-Forwarded-For, X-Real-IP, X-Forwarded-Proto,
 * -Host, Forwarded), HTTPS by SNI with the same certificate, one access log line per request or
 * none, and as many worker processes as cores (`worker_processes auto`, Debian's default).
 *
 * Debian's package: `apt-get install -y nginx-light` (or `nginx`). Without it the comparison is
 * skipped with a message saying so.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { send } from '../test/env/http-request.js';
import { ServerProcess, waitForServer } from '../test/env/server-process.js';

/** Where an nginx binary is, or undefined. */
export function findNginx(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) if (existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface NginxOptions {
  readonly binary: string;
  /** A folder of its own (config, logs, temp files). */
  readonly dir: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  /** Hosts served over HTTP, each its own server block. */
  readonly hosts: readonly string[];
  /** The host served over HTTPS too, with this certificate chain and key (PEM). */
  readonly tls: { readonly host: string; readonly certificatePem: string; readonly keyPem: string };
  readonly backendPort: number;
  readonly accessLog: boolean;
}

/** Writes the configuration and starts nginx in the foreground; resolves once it answers. */
export async function startNginx(options: NginxOptions): Promise<ServerProcess> {
  const { dir } = options;
  mkdirSync(join(dir, 'temp'), { recursive: true });
  writeFileSync(join(dir, 'cert.pem'), options.tls.certificatePem);
  writeFileSync(join(dir, 'key.pem'), options.tls.keyPem, { mode: 0o600 });
  const proxy = `location / { proxy_pass http://backend; }`;
  const servers = options.hosts.map((host) => `  server { listen 127.0.0.1:${options.httpPort}; server_name ${host}; ${proxy} }`).join('\n');
  const config = `worker_processes auto;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 10240; }
http {
  access_log ${options.accessLog ? join(dir, 'access.log') : 'off'};
  client_body_temp_path ${join(dir, 'temp')};
  proxy_temp_path ${join(dir, 'temp')};
  fastcgi_temp_path ${join(dir, 'temp')};
  uwsgi_temp_path ${join(dir, 'temp')};
  scgi_temp_path ${join(dir, 'temp')};
  server_names_hash_max_size 65536;
  server_names_hash_bucket_size 128;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:${options.backendPort}; keepalive 64; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-For $remote_addr;
  proxy_set_header X-Real-IP $remote_addr;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_set_header X-Forwarded-Host $http_host;
  proxy_set_header Forwarded "for=$remote_addr;host=\\"$http_host\\";proto=$scheme";
  server { listen 127.0.0.1:${options.httpPort} default_server; return 404; }
${servers}
  server {
    listen 127.0.0.1:${options.httpsPort} ssl;
    server_name ${options.tls.host};
    ssl_certificate ${join(dir, 'cert.pem')};
    ssl_certificate_key ${join(dir, 'key.pem')};
    ssl_protocols TLSv1.2 TLSv1.3;
    ${proxy}
  }
}
`;
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, config);
  const nginx = ServerProcess.start({
    name: 'nginx',
    command: options.binary,
    args: ['-p', dir, '-c', file, '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
    logFile: join(dir, 'nginx.out'),
    stopSignal: 'SIGQUIT',
  });
  const host = options.hosts[0]!;
  await waitForServer(nginx, 'an answer', async () => ((await send(options.httpPort, host, '/')).status === 200 ? true : undefined));
  return nginx;
}
