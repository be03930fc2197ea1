/**
 * The nginx comparison of `npm run bench:edge`: the edge and nginx (`nginx-proxy.ts`) as the same
 * reverse proxy in front of the same backend, loaded the same way in the same run — plain HTTP,
 * HTTPS (SNI, the same certificate) and 10,000 hosts (a route each; the load goes round 1,000 of
 * them) — with the access log on and off, each printed as requests/s and p99, and the
 * edge/nginx ratios. The figures are noisy on a shared machine; the ratios of one run are what to
 * compare.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { publishCertificatesPublicKey, certificateKeyContext } from '../certificates/certificates-key.js';
import { LocalCa } from '../certificates/local-ca.js';
import type { Store } from '../framework/index.js';
import { loadOrCreateSealingKey } from '../secrets/key-file.js';
import { seal, sealingKeyId } from '../secrets/seal.js';
import type { ServerProcess } from '../test/env/server-process.js';
import { httpLoad, type Load } from './http-load.js';
import { findNginx, startNginx } from './nginx-proxy.js';

const MANY = 10_000;
const manyHost = (i: number) => `h${i}.many.bench`;

const insertMany = {
  name: 'bench.edge_many_routes',
  text: `insert into platform.routing (host, path_prefix, route, backends)
         select 'h' || i || '.many.bench', '/', 'many/r' || i, $2::jsonb from generate_series(0, $1 - 1) i
         on conflict (host, path_prefix) do nothing`,
};
const insertCertificate = {
  name: 'bench.edge_certificate',
  text: `insert into platform.certificates (host, route, source, certificate, sealed_key, key_id, fingerprint, not_before, not_after)
         values ($1, 'bench/load', 'bench', $2, $3, $4, $5, $6, $7)
         on conflict (host) do nothing`,
};

/** A running edge to compare, started by the caller's means. */
export interface ComparedEdge {
  readonly process: ServerProcess;
  readonly httpPort: number;
  readonly httpsPort: number;
}

export interface ComparisonOptions {
  readonly store: Store;
  readonly dir: string;
  readonly backendPort: number;
  /** The host of the plain and HTTPS loads (a route to the backend exists). */
  readonly host: string;
  readonly connections: number;
  readonly seconds: number;
  readonly freePort: () => Promise<number>;
  /** Starts an edge with HTTPS and the certificates key file given, its access log on or off. */
  readonly startEdge: (accessLog: boolean, certificatesKeyFile: string) => Promise<ComparedEdge>;
  /** Edge processes serving (the master's workers), for the heading. */
  readonly edgeWorkers: number;
}

interface Scenario {
  readonly name: string;
  readonly hosts: readonly string[];
  readonly https: boolean;
}

/** Runs the comparison and prints its table; says so and returns when nginx is not installed. */
export async function compareWithNginx(options: ComparisonOptions): Promise<void> {
  const binary = findNginx();
  if (!binary) {
    console.log('edge vs nginx: skipped, nginx is not installed (Debian: apt-get install -y nginx-light, or nginx)');
    return;
  }
  // The certificate both serve, from a CA of the run's own; the edge's copy sealed in PostgreSQL.
  const { ca } = await LocalCa.loadOrCreate(join(options.dir, 'ca'), { permitted: ['bench'] });
  const issued = await ca.issue(options.host, new Date());
  const keyFile = join(options.dir, 'certificates.key');
  const key = loadOrCreateSealingKey(keyFile);
  await publishCertificatesPublicKey(options.store, key);
  const leaf = new X509Certificate(issued.certificatePem);
  await options.store.query(insertCertificate, [
    options.host, issued.certificatePem, seal(issued.privateKeyPem, key.publicKey, certificateKeyContext(options.host)), sealingKeyId(key.publicKey),
    leaf.fingerprint256.replace(/:/g, '').toLowerCase(), new Date(leaf.validFrom).toISOString(), new Date(leaf.validTo).toISOString(),
  ]);
  await options.store.query(insertMany, [MANY, JSON.stringify([{ address: '127.0.0.1', port: options.backendPort, instance: 'blue' }])]);
  const manyHosts = Array.from({ length: MANY }, (_, i) => manyHost(i));
  const scenarios: Scenario[] = [
    { name: 'plain HTTP', hosts: [options.host], https: false },
    { name: 'HTTPS', hosts: [options.host], https: true },
    // Every tenth host, so each of the 1,000 is asked often and all of the table is in play.
    { name: `${MANY.toLocaleString('en')} hosts`, hosts: manyHosts.filter((_, i) => i % 10 === 0), https: false },
  ];

  const rows: string[] = [];
  const num = (x: number, w: number) => x.toFixed(0).padStart(w);
  console.log(
    `edge vs nginx ${binary}: ${options.connections} connections, ${options.seconds} s each; edge ${options.edgeWorkers} worker process${options.edgeWorkers === 1 ? '' : 'es'}, nginx worker_processes auto; same backend`,
  );
  console.log('  scenario        log   edge req/s   p99 ms   nginx req/s   p99 ms   req/s edge/nginx   p99 edge/nginx');
  for (const accessLog of [true, false]) {
    const edge = await options.startEdge(accessLog, keyFile);
    const nginxDir = join(options.dir, `nginx-${accessLog ? 'log' : 'nolog'}`);
    const [httpPort, httpsPort] = [await options.freePort(), await options.freePort()];
    const nginx = await startNginx({
      binary, dir: nginxDir, httpPort, httpsPort, hosts: [options.host, ...manyHosts],
      tls: { host: options.host, certificatePem: issued.certificatePem, keyPem: issued.privateKeyPem }, backendPort: options.backendPort, accessLog,
    });
    try {
      for (const scenario of scenarios) {
        const at = (port: number, seconds: number): Promise<Load> =>
          httpLoad({ port, hosts: scenario.hosts, connections: options.connections, seconds, https: scenario.https });
        // A short warm-up each (JIT, TLS session setup, nginx's upstream keep-alive pool), then
        // the measured runs back to back.
        await at(scenario.https ? edge.httpsPort : edge.httpPort, 2);
        await at(scenario.https ? httpsPort : httpPort, 2);
        const e = await at(scenario.https ? edge.httpsPort : edge.httpPort, options.seconds);
        const n = await at(scenario.https ? httpsPort : httpPort, options.seconds);
        const line =
          `  ${scenario.name.padEnd(15)} ${(accessLog ? 'on' : 'off').padEnd(4)} ${num(e.rps, 11)} ${num(e.p99, 8)} ${num(n.rps, 13)} ${num(n.p99, 8)}` +
          `   ${`${((e.rps / n.rps) * 100).toFixed(0)} %`.padStart(16)}   ${`${(e.p99 / Math.max(n.p99, 1)).toFixed(1)} ×`.padStart(14)}` +
          (e.errors + n.errors > 0 ? `   errors edge ${e.errors}, nginx ${n.errors}` : '');
        console.log(line);
        rows.push(line);
      }
    } finally {
      await nginx.stop();
      await edge.process.stop();
    }
  }
  console.log('  target: plain HTTP ≥ 50 % of nginx\'s req/s with p99 ≤ 2 × nginx\'s (p99 in whole ms: a ratio of small numbers is coarse)');
}
