/**
 * The edge through a PostgreSQL outage (issue 14 §3): one that is serving keeps serving its last
 * table, one started while PostgreSQL is down serves the snapshot its state folder holds — the
 * routing table and the certificates (HTTPS too, issue 19) — and once PostgreSQL is back the
 * table read from it replaces the snapshot, in memory and on disk.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoutingSnapshot, startEdge, type Edge } from '../../../../agents/edge/index.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import type { IssuedCertificate } from '../../../../certificates/issuer.js';
import { LocalCa } from '../../../../certificates/local-ca.js';
import { generateSealingKey } from '../../../../secrets/seal.js';
import { eventually } from '../../../env/eventually.js';
import { handshake } from '../../../env/https-request.js';
import { setCertificate } from './certificate-rows.js';
import { metric, send } from '../../../env/http-request.js';
import { startPostgres, type Postgres } from '../../../env/postgres.js';
import { routingVersion, setRoute } from './routing-rows.js';
import { startBackend, type Echo, type TestBackend } from './test-backend.js';

const logger = createLogger({ level: 'silent' });
let dir: string;
let postgres: Postgres;
let store: Store;
const backends: TestBackend[] = [];
const edges: Edge[] = [];
const edgeStores: Store[] = [];
const certificatesKey = generateSealingKey();
let ca: LocalCa;
let shopCertificate: IssuedCertificate;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tend-edge-outage-'));
  // This test stops PostgreSQL, so it needs a server of its own even when DATABASE_URL names one.
  postgres = await startPostgres(dir);
  store = new Store({ connectionString: postgres.databaseUrl, logger, connectionWaitMs: 1_000 });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  ca = (await LocalCa.loadOrCreate(join(dir, 'ca'), { permitted: ['test'] })).ca;
  shopCertificate = await ca.issue('shop.test', new Date());
}, 120_000);

afterAll(async () => {
  for (const edge of edges) await edge.stop();
  await Promise.all(edgeStores.map((s) => s.close()));
  await Promise.all(backends.map((b) => b.close()));
  await store?.close();
  await postgres?.stop();
});

const edgeAt = async (snapshotFile: string): Promise<Edge> => {
  const edgeStore = new Store({ connectionString: postgres.databaseUrl, logger, poolSize: 2, connectionWaitMs: 1_000 });
  edgeStores.push(edgeStore);
  const edge = await startEdge({
    store: edgeStore, listenUrl: postgres.databaseUrl, logger, listen: { host: '127.0.0.1', port: 0 }, checkMs: 200, snapshotFile, drainMs: 1_000,
    httpsListen: { host: '127.0.0.1', port: 0 }, certificatesKey, certificatesSnapshotFile: join(snapshotFile, '..', 'certificates.json'),
  });
  edges.push(edge);
  return edge;
};
const from = async (edge: Edge, host: string) => {
  const answer = await send(edge.address.port, host, '/');
  return answer.status === 200 ? (JSON.parse(answer.body) as Echo).backend : `status ${answer.status}`;
};
const saved = async (file: string) => {
  const read = await new RoutingSnapshot(file).read();
  return read.kind === 'table' ? read.table.version : undefined;
};
const metrics = (edge: Edge) => `http://127.0.0.1:${edge.adminAddress.port}/metrics`;

describe('the edge while PostgreSQL is down', () => {
  it('keeps serving its table, an edge started meanwhile serves the snapshot, and the table read after replaces it', async () => {
    const [blue, green] = [await startBackend('blue'), await startBackend('green')];
    backends.push(blue, green);
    const snapshotFile = join(dir, 'edge-a', 'routing.json');
    await setRoute(store, 'shop.test', '/', 'ns/shop', [blue.row]);
    const fingerprint = await setCertificate(store, 'shop.test', 'ns/shop', shopCertificate, certificatesKey.publicKey);
    const serving = await edgeAt(snapshotFile);
    const https = async (edge: Edge) => ((await handshake(edge.httpsAddress!.port, 'shop.test', ca.certificatePem())) as { fingerprint?: string }).fingerprint;
    expect(await https(serving)).toBe(fingerprint);
    // The certificates are saved too, 0600, the private key only sealed.
    const certificatesFile = join(dir, 'edge-a', 'certificates.json');
    await eventually(() => (statSync(certificatesFile).mode & 0o777) === 0o600 || undefined, { what: 'the certificates snapshot' });
    expect(readFileSync(certificatesFile, 'utf8')).toContain(new X509Certificate(shopCertificate.certificatePem).raw.toString('base64').slice(0, 40));
    expect(readFileSync(certificatesFile, 'utf8')).not.toContain(shopCertificate.privateKeyPem.split('\n')[1]!);
    const before = await routingVersion(store);
    await eventually(async () => ((await saved(snapshotFile)) === before ? true : undefined), { what: 'the snapshot of the first table' });
    expect(await from(serving, 'shop.test')).toBe('blue');

    await postgres.process!.stop();
    // The edge notices (its reads fail), and answers every request meanwhile from the table it has.
    await eventually(async () => ((await metric(metrics(serving), 'tend_edge_routing_read_failures_total')) >= 3 ? true : undefined), { what: 'three failed reads' });
    const answers: string[] = [];
    for (let i = 0; i < 50; i++) answers.push(await from(serving, 'shop.test'));
    expect(answers).toEqual(Array(50).fill('blue'));
    expect(serving.routingSource()).toBe('database');

    // Restarted during the outage: the same state folder, PostgreSQL unreachable at start.
    await serving.stop();
    const restarted = await edgeAt(snapshotFile);
    expect(restarted.routingSource()).toBe('snapshot');
    expect(restarted.routingVersion()).toBe(before);
    expect(await metric(metrics(restarted), 'tend_edge_routing_from_snapshot')).toBe(1);
    const afterRestart: string[] = [];
    for (let i = 0; i < 50; i++) afterRestart.push(await from(restarted, 'shop.test'));
    expect(afterRestart).toEqual(Array(50).fill('blue'));
    // And over HTTPS, with the certificate from its snapshot.
    expect(await https(restarted)).toBe(fingerprint);

    await postgres.restart();
    await setRoute(store, 'shop.test', '/', 'ns/shop', [green.row]);
    const after = await routingVersion(store);
    await eventually(async () => ((await from(restarted, 'shop.test')) === 'green' ? true : undefined), { what: 'the new table served', timeoutMs: 30_000 });
    expect(restarted.routingSource()).toBe('database');
    expect(await metric(metrics(restarted), 'tend_edge_routing_from_snapshot')).toBe(0);
    await eventually(async () => ((await saved(snapshotFile)) === after ? true : undefined), { what: 'the snapshot replaced by the newer table' });
  }, 120_000);
});
