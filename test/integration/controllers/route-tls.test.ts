/**
 * A Route's spec.tls on the cluster backend, end to end: the controllers in this process (real API
 * server, real PostgreSQL), a real kubernetes.io/tls Secret, and a `tend edge` process with its own
 * login and the certificates key. The certificate reaches platform.certificates with its key sealed
 * (nothing in clear in the database), the edge serves it by SNI, a bad or missing one is a
 * condition and no handshake, an expiring one says so, and an issuer makes one.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceType } from '../../../api/resource-types.js';
import type { Route, RouteTls } from '../../../api/types/route.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { publishCertificatesPublicKey } from '../../../certificates/certificates-key.js';
import type { IssuedCertificate } from '../../../certificates/issuer.js';
import { LocalCa } from '../../../certificates/local-ca.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { KubeClient } from '../../../framework/client/index.js';
import { findCondition, type Condition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import type { Manager } from '../../../framework/runtime/manager.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { loadOrCreateSealingKey } from '../../../secrets/key-file.js';
import { freshNamespace, kubeConfig } from '../../env/context.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import { send } from '../../env/http-request.js';
import { handshake } from '../../env/https-request.js';
import { waitForServer, type ServerProcess } from '../../env/server-process.js';
import { testShard } from '../../env/shard.js';
import { startTend } from '../../env/tend-process.js';
import { updateSpec } from '../../env/update-spec.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('route_tls');
const shard = testShard('route-tls');
const dir = mkdtempSync(join(tmpdir(), 'tend-route-tls-'));
const keyFile = join(dir, 'certificates.key');
const domain = `tls-${randomBytes(3).toString('hex')}.test`;
const core = kubeConfig().makeApiClient(CoreV1Api);
const routes = new KubeClient<Route>(resourceType('Route'), kubeConfig());
const stop = new AbortController();
let store: Store;
let manager: Manager;
let running: Promise<void>;
let edge: { process: ServerProcess; http: number; https: number };
let ns: string;
/** The CA that signs the Secrets' certificates (as a user's own CA would), and the one `issuer: local` is. */
let userCa: LocalCa;
let localCa: LocalCa;

beforeAll(async () => {
  const url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  await publishCertificatesPublicKey(store, loadOrCreateSealingKey(keyFile));
  userCa = (await LocalCa.loadOrCreate(join(dir, 'user-ca'), { permitted: ['test'] })).ca;
  localCa = (await LocalCa.loadOrCreate(join(dir, 'local-ca'), { permitted: [domain] })).ca;
  manager = buildPlatform({ kubeConfig: kubeConfig(), store, logger, replica: 'test', selector: shard.selector, membership: false, issuers: [localCa] });
  running = manager.start(stop.signal);
  ns = await freshNamespace('tls');
  const tenants = new KubeClient<Tenant>(resourceType('Tenant'), kubeConfig());
  await tenants.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: ns, labels: shard.labels }, spec: { namespaces: [ns], allowedHostnames: [`*.${domain}`, '*.other.test'] } });
  await eventually(async () => (findCondition((await tenants.get(ns as Key))?.status?.conditions, 'NamespacesClaimed')?.status === 'True' ? true : undefined), { what: 'tenant owns its namespace' });
  const credentials = await enrolledCredentials(url, 'edge', 'route-tls', dir);
  const logFile = join(dir, 'edge.log');
  const process = startTend('tend edge', ['edge', '--listen', '127.0.0.1:0', '--https-listen', '127.0.0.1:0', '--certificates-key-file', keyFile, '--credentials-file', credentials, '--state-dir', join(dir, 'edge'), '--log-level', 'warn'], logFile);
  const ports = await waitForServer(process, 'its listening line', async () => {
    const line = /^tend edge: proxy http:\/\/127\.0\.0\.1:(\d+), https https:\/\/127\.0\.0\.1:(\d+)/m.exec(readFileSync(logFile, 'utf8'));
    return line ? { http: Number(line[1]), https: Number(line[2]) } : undefined;
  });
  edge = { process, ...ports };
}, 120_000);

afterAll(async () => {
  await edge?.process.kill();
  stop.abort();
  await running;
  await store?.close();
  await databases.dropAll();
});

const fingerprintOf = (c: IssuedCertificate) => new X509Certificate(c.certificatePem).fingerprint256.replace(/:/g, '').toLowerCase();

async function putSecret(name: string, crt: string, key: string): Promise<void> {
  const body = { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name, namespace: ns }, data: { 'tls.crt': Buffer.from(crt).toString('base64'), 'tls.key': Buffer.from(key).toString('base64') } };
  try {
    await core.replaceNamespacedSecret({ namespace: ns, name, body });
  } catch {
    await core.createNamespacedSecret({ namespace: ns, body });
  }
}

async function createRoute(name: string, host: string, tls: RouteTls): Promise<void> {
  await routes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name, namespace: ns, labels: shard.labels }, spec: { host, app: 'web', tls } });
}

/** Waits until the Route's condition of `type` (for its current generation) has `reason`. */
async function condition(name: string, type: string, reason: string): Promise<{ condition: Condition; route: Route }> {
  return eventually(async () => {
    const route = await routes.get(`${ns}/${name}` as Key);
    const c = findCondition(route?.status?.conditions, type);
    return route && route.status?.observedGeneration === route.metadata.generation && c?.reason === reason ? { condition: c, route } : undefined;
  }, { what: `route ${name} ${type} reason ${reason}` });
}

const served = async (host: string) => ((await handshake(edge.https, host, userCa.certificatePem() + localCa.certificatePem())) as { fingerprint?: string }).fingerprint;

describe('a Route with spec.tls', () => {
  it('serves the certificate of its kubernetes.io/tls Secret, sealed in PostgreSQL, and follows every change of the Secret', async () => {
    const host = `shop.${domain}`;
    const first = await userCa.issue(host, new Date());
    await putSecret('shop-tls', first.certificatePem, first.privateKeyPem);
    await createRoute('shop', host, { secretName: 'shop-tls' });
    const { condition: ready, route } = await condition('shop', 'CertificateReady', 'Valid');
    expect(ready.status).toBe('True');
    expect(route.status?.url).toBe(`https://${host}/`);
    expect(findCondition(route.status?.conditions, 'CertificateExpiring')).toMatchObject({ status: 'False', reason: 'NotExpiring' });
    await eventually(async () => ((await served(host)) === fingerprintOf(first) ? true : undefined), { what: 'the edge serves the Secret\'s certificate' });

    // Nothing of the private key is in the database in clear.
    const [row] = await store.query<Record<string, string>>({ name: 'test.cert_row', text: `select * from platform.certificates where host = $1` }, [host]);
    expect(row!.sealed_key).toMatch(/^tend-seal-v1\./);
    const keyLine = first.privateKeyPem.split('\n')[1]!;
    expect(JSON.stringify(row)).not.toContain(keyLine);

    // Renewed in the Secret: the edge serves the new one.
    const renewed = await userCa.issue(host, new Date());
    const changed = Date.now();
    await putSecret('shop-tls', renewed.certificatePem, renewed.privateKeyPem);
    const tookMs = await eventually(async () => ((await served(host)) === fingerprintOf(renewed) ? Date.now() - changed : undefined), { what: 'the renewed certificate served' });
    console.log(`a renewed certificate in the Secret was served by the edge ${tookMs} ms after the Secret's update`);

    // Another host's certificate: not served at all, and the Route says why.
    const wrong = await userCa.issue(`blog.${domain}`, new Date());
    await putSecret('shop-tls', wrong.certificatePem, wrong.privateKeyPem);
    const mismatch = await condition('shop', 'CertificateReady', 'CertificateHostMismatch');
    expect(mismatch.condition.message).toBe(`secret ${ns}/shop-tls: the certificate is for blog.${domain}, not ${host}: https://${host} is not served`);
    expect(findCondition(mismatch.route.status?.conditions, 'Ready')).toMatchObject({ status: 'False' });
    expect(mismatch.route.status?.url).toBe(`http://${host}/`);
    await eventually(async () => ((await served(host)) === undefined ? true : undefined), { what: 'no handshake for the host' });

    // A key that is not the certificate's, then no Secret at all.
    await putSecret('shop-tls', renewed.certificatePem, wrong.privateKeyPem);
    await condition('shop', 'CertificateReady', 'KeyMismatch');
    await core.deleteNamespacedSecret({ namespace: ns, name: 'shop-tls' });
    await condition('shop', 'CertificateReady', 'SecretNotFound');
    await putSecret('shop-tls', 'not a certificate', renewed.privateKeyPem);
    await condition('shop', 'CertificateReady', 'InvalidCertificate');

    // Five days left: CertificateExpiring=True with reason ExpiresSoon, and still served.
    const shortCa = (await LocalCa.loadOrCreate(join(dir, 'user-ca'), { permitted: ['test'], leafDays: 5 })).ca;
    const short = await shortCa.issue(host, new Date());
    await putSecret('shop-tls', short.certificatePem, short.privateKeyPem);
    const expiring = await condition('shop', 'CertificateExpiring', 'ExpiresSoon');
    expect(expiring.condition).toMatchObject({ status: 'True' });
    expect(expiring.condition.message).toMatch(new RegExp(`^the certificate of ${host.replace(/\./g, '\\.')} expires at .*, in 4 days$`));
    await eventually(async () => ((await served(host)) === fingerprintOf(short) ? true : undefined), { what: 'the short-lived certificate served' });

    // spec.tls removed: plain HTTP only, and the Route says nothing of certificates any more.
    await updateSpec(routes, `${ns}/shop`, (spec) => ({ host: spec.host, app: spec.app }));
    await eventually(async () => {
      const r = await routes.get(`${ns}/shop` as Key);
      return r?.status?.observedGeneration === r?.metadata.generation && !findCondition(r?.status?.conditions, 'CertificateReady') && r?.status?.url === `http://${host}/` ? true : undefined;
    }, { what: 'the TLS conditions gone' });
    await eventually(async () => ((await served(host)) === undefined ? true : undefined), { what: 'no handshake once spec.tls is gone' });
  });

  it('gets a certificate from an issuer and redirects plain HTTP to it', async () => {
    const host = `app.${domain}`;
    await createRoute('app', host, { issuer: 'local', redirect: true });
    const { route } = await condition('app', 'CertificateReady', 'Issued');
    expect(route.status?.url).toBe(`https://${host}/`);
    const fingerprint = await eventually(() => served(host), { what: 'the issued certificate served' });
    const [row] = await store.query<{ source: string; fingerprint: string }>({ name: 'test.cert_source', text: `select source, fingerprint from platform.certificates where host = $1` }, [host]);
    expect(row).toEqual({ source: 'issuer local', fingerprint });
    const redirect = await eventually(async () => {
      const answer = await send(edge.http, host, '/x?y=1');
      return answer.status === 308 ? answer : undefined;
    }, { what: 'plain HTTP redirected' });
    expect(redirect.headers.location).toBe(`https://${host}:${edge.https}/x?y=1`);
  });

  it('reports an issuer it does not have, and one that will not issue for the host', async () => {
    await createRoute('acme', `acme.${domain}`, { issuer: 'acme' });
    const missing = await condition('acme', 'CertificateReady', 'IssuerNotFound');
    expect(missing.condition.status).toBe('False');
    await createRoute('outside', 'outside.other.test', { issuer: 'local' });
    const refused = await condition('outside', 'CertificateReady', 'IssuerRefused');
    expect(refused.condition.message).toBe(`the local certificate authority issues for ${domain} and *.${domain} only (its certificate is name-constrained), not outside.other.test: https://outside.other.test is not served`);
  });
});
