/**
 * HTTPS on the edge: two `tend edge` processes with their own enrolled login and the same
 * certificates key serve each host the certificate in platform.certificates by SNI, take a new one
 * within a second of its commit without dropping a connection, give no handshake for a host
 * without a (usable) certificate, and redirect plain HTTP where the routing row says so.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCredentialsFile } from '../../../../cli/credentials.js';
import { publishCertificatesPublicKey } from '../../../../certificates/certificates-key.js';
import type { IssuedCertificate } from '../../../../certificates/issuer.js';
import { LocalCa } from '../../../../certificates/local-ca.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { generateSealingKey } from '../../../../secrets/seal.js';
import { loadOrCreateSealingKey } from '../../../../secrets/key-file.js';
import { enrolledCredentials } from '../../../env/enroll.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';
import { metric, send } from '../../../env/http-request.js';
import { handshake, sendHttps } from '../../../env/https-request.js';
import { waitForServer, type ServerProcess } from '../../../env/server-process.js';
import { startTend } from '../../../env/tend-process.js';
import { deleteCertificate, setCertificate } from './certificate-rows.js';
import { setRoute } from './routing-rows.js';
import { startBackend, type Echo, type TestBackend } from './test-backend.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('edge_tls');
const dir = mkdtempSync(join(tmpdir(), 'tend-edge-tls-'));
const keyFile = join(dir, 'certificates.key');
let url: string;
let store: Store;
let ca: LocalCa;
let caPem: string;
let backend: TestBackend;
let credentials: string;
const edges: { process: ServerProcess; http: number; https: number; admin: number }[] = [];
const issued: Record<string, IssuedCertificate> = {};

async function startEdgeProcess(n: number): Promise<(typeof edges)[number]> {
  const logFile = join(dir, `edge-${n}.log`);
  const process = startTend(`tend edge ${n}`, ['edge', '--listen', '127.0.0.1:0', '--https-listen', '127.0.0.1:0', '--certificates-key-file', keyFile, '--credentials-file', credentials, '--state-dir', join(dir, `edge-${n}`), '--log-level', 'warn'], logFile);
  const ports = await waitForServer(process, 'its listening line', async () => {
    const line = /^tend edge: proxy http:\/\/127\.0\.0\.1:(\d+), https https:\/\/127\.0\.0\.1:(\d+), admin http:\/\/127\.0\.0\.1:(\d+)$/m.exec(readFileSync(logFile, 'utf8'));
    return line ? { http: Number(line[1]), https: Number(line[2]), admin: Number(line[3]) } : undefined;
  });
  return { process, ...ports };
}

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  ca = (await LocalCa.loadOrCreate(join(dir, 'ca'), { permitted: ['test'] })).ca;
  caPem = ca.certificatePem();
  for (const name of ['shop', 'shop-renewed', 'blog']) issued[name] = await ca.issue(`${name.split('-')[0]}.test`, new Date());
  await publishCertificatesPublicKey(store, loadOrCreateSealingKey(keyFile));
  backend = await startBackend('web');
  for (const host of ['shop.test', 'blog.test', 'plain.test']) await setRoute(store, host, '/', `ns/${host.split('.')[0]}`, [backend.row]);
  await setCertificate(store, 'shop.test', 'ns/shop', issued.shop!, loadOrCreateSealingKey(keyFile).publicKey);
  await setCertificate(store, 'blog.test', 'ns/blog', issued.blog!, loadOrCreateSealingKey(keyFile).publicKey);
  // The edges log in as an enrolled edge: what they read, that role may read.
  credentials = await enrolledCredentials(url, 'edge', 'tls-edge', dir);
  edges.push(await startEdgeProcess(1), await startEdgeProcess(2));
});

afterAll(async () => {
  await Promise.all(edges.map((e) => e.process.kill()));
  await backend?.close();
  await store?.close();
  await databases.dropAll();
});

const fingerprintOf = (c: IssuedCertificate) => new X509Certificate(c.certificatePem).fingerprint256.replace(/:/g, '').toLowerCase();

describe('the edge over HTTPS', () => {
  it('serves each host its own certificate by SNI, from the first request, and tells the backend the request came over https', async () => {
    for (const edge of edges) {
      expect(await handshake(edge.https, 'shop.test', caPem)).toEqual({ fingerprint: fingerprintOf(issued.shop!), names: 'DNS:shop.test' });
      expect(await handshake(edge.https, 'BLOG.test', caPem)).toEqual({ fingerprint: fingerprintOf(issued.blog!), names: 'DNS:blog.test' });
      const answer = await sendHttps(edge.https, 'shop.test', '/cart?x=1', caPem);
      expect(answer.status).toBe(200);
      const seen = JSON.parse(answer.body) as Echo;
      expect(seen).toMatchObject({ backend: 'web', url: '/cart?x=1' });
      expect(seen.headers).toMatchObject({ 'x-forwarded-proto': 'https', forwarded: 'for=127.0.0.1;host=shop.test;proto=https' });
    }
  });

  it('gives no handshake for a host without a certificate, nor to a client without SNI: never another host\'s certificate', async () => {
    const edge = edges[0]!;
    expect(await handshake(edge.https, 'plain.test', caPem)).toHaveProperty('error');
    expect(await handshake(edge.https, 'nowhere.test', caPem)).toHaveProperty('error');
    expect(await handshake(edge.https, undefined, caPem)).toHaveProperty('error');
    const failures = (reason: string) => metric(`http://127.0.0.1:${edge.admin}/metrics`, 'tend_edge_tls_handshake_failures_total', { reason });
    expect(await failures('unknown_host')).toBe(2);
    expect(await failures('no_sni')).toBe(1);
    // Plain HTTP still serves it.
    expect((await send(edge.http, 'plain.test', '/')).status).toBe(200);
  });

  it('serves a renewed certificate on every edge within a second of its commit, while a keep-alive connection opened before goes on', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const before = await sendHttps(edges[0]!.https, 'shop.test', '/', caPem, agent);
    expect(before.fingerprint).toBe(fingerprintOf(issued.shop!));
    const committed = Date.now();
    await setCertificate(store, 'shop.test', 'ns/shop', issued['shop-renewed']!, loadOrCreateSealingKey(keyFile).publicKey);
    const took = await Promise.all(
      edges.map((edge) =>
        eventually(async () => ((await handshake(edge.https, 'shop.test', caPem)) as { fingerprint?: string }).fingerprint === fingerprintOf(issued['shop-renewed']!) ? Date.now() - committed : undefined, { timeoutMs: 5_000, what: 'the renewed certificate served' }),
      ),
    );
    console.log(`renewed certificate served ${took.map((ms) => `${ms} ms`).join(' and ')} after its commit, on two edges`);
    for (const ms of took) expect(ms).toBeLessThan(1_000);
    // The connection made before the swap was not dropped: the same socket, still the old certificate.
    const after = await sendHttps(edges[0]!.https, 'shop.test', '/', caPem, agent);
    expect(after).toMatchObject({ status: 200, reusedSocket: true, localPort: before.localPort, fingerprint: fingerprintOf(issued.shop!) });
    agent.destroy();
    expect(await metric(`http://127.0.0.1:${edges[1]!.admin}/metrics`, 'tend_edge_certificate_expiry_timestamp_seconds', { route: 'ns/shop' })).toBe(Math.floor(new Date(new X509Certificate(issued['shop-renewed']!.certificatePem).validTo).getTime() / 1000));
  });

  it('stops serving a host whose certificate is removed, or whose key is sealed to another key or for another host', async () => {
    const edge = edges[1]!;
    await deleteCertificate(store, 'blog.test');
    await eventually(async () => ('error' in (await handshake(edge.https, 'blog.test', caPem)) ? true : undefined), { timeoutMs: 5_000, what: 'blog.test no longer served' });
    await setCertificate(store, 'blog.test', 'ns/blog', issued.blog!, generateSealingKey().publicKey);
    await eventually(async () => ((await metric(`http://127.0.0.1:${edge.admin}/metrics`, 'tend_edge_certificates_unusable')) === 1 ? true : undefined), { timeoutMs: 5_000, what: 'the row counted unusable' });
    expect(await handshake(edge.https, 'blog.test', caPem)).toHaveProperty('error');
    // shop.test's sealed key in blog.test's row: sealed for another host, it does not open.
    await setCertificate(store, 'blog.test', 'ns/blog', issued.blog!, loadOrCreateSealingKey(keyFile).publicKey, 'shop.test');
    await eventually(async () => (readFileSync(join(dir, 'edge-2.log'), 'utf8').includes('certificate of blog.test (route ns/blog): sealed value does not open') ? true : undefined), { timeoutMs: 5_000 });
    expect(await handshake(edge.https, 'blog.test', caPem)).toHaveProperty('error');
    await setCertificate(store, 'blog.test', 'ns/blog', issued.blog!, loadOrCreateSealingKey(keyFile).publicKey);
    await eventually(async () => ('fingerprint' in (await handshake(edge.https, 'blog.test', caPem)) ? true : undefined), { timeoutMs: 5_000, what: 'blog.test served again' });
    // No log line holds key material.
    const pemBody = issued.blog!.privateKeyPem.split('\n')[1]!;
    for (const n of [1, 2]) expect(readFileSync(join(dir, `edge-${n}.log`), 'utf8')).not.toContain(pemBody);
  });

  it('redirects plain HTTP to https with 308 where the routing row says so, keeping path and query', async () => {
    await store.query({ name: 'test.redirect_on', text: `update platform.routing set https_redirect = true where host = 'shop.test'` });
    const edge = edges[0]!;
    const redirected = await eventually(async () => {
      const answer = await send(edge.http, 'shop.test:8080', '/a/b?c=d', { method: 'POST', body: 'x' });
      return answer.status === 308 ? answer : undefined;
    }, { timeoutMs: 5_000, what: 'a 308' });
    expect(redirected.headers.location).toBe(`https://shop.test:${edge.https}/a/b?c=d`);
    expect((await sendHttps(edge.https, 'shop.test', '/a/b?c=d', caPem)).status).toBe(200);
    expect((await send(edge.http, 'plain.test', '/')).status).toBe(200);
  });

  it('lets an edge\'s login read what it serves, and not where certificates come from nor the public keys', async () => {
    const { databaseUrl } = readCredentialsFile('test', credentials, 'edge', { out: () => {}, err: () => {}, readStdin: () => '' });
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      expect((await client.query('select count(host)::int as n from platform.certificates')).rows).toEqual([{ n: 2 }]);
      await expect(client.query('select source from platform.certificates')).rejects.toThrow(/permission denied/);
      await expect(client.query('select * from platform.certificate_keys')).rejects.toThrow(/permission denied/);
      await expect(client.query(`delete from platform.certificates`)).rejects.toThrow(/permission denied/);
    } finally {
      await client.end();
    }
  });
});
