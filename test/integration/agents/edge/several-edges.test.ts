/**
 * Several edges, one fails (issue 19 §3; seed 004: "one edge node failure is not a full outage"):
 * two `tend edge` processes, each with its own login, behind a client that fails over as a load
 * balancer or a DNS round robin client does. One is killed with SIGKILL in the middle of a stream
 * of requests: the other serves every host, over HTTP and HTTPS, and no request is lost. While it
 * is down the table and a certificate change; started again on the same ports and state folder (a
 * snapshot of the old table in it), it reports ready only once it serves the current table and
 * certificates — the first request after its first 200 on /readyz already gets the new ones.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishCertificatesPublicKey } from '../../../../certificates/certificates-key.js';
import type { IssuedCertificate } from '../../../../certificates/issuer.js';
import { LocalCa } from '../../../../certificates/local-ca.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { loadOrCreateSealingKey } from '../../../../secrets/key-file.js';
import { enrolledCredentials } from '../../../env/enroll.js';
import { FreshDatabases } from '../../../env/fresh-database.js';
import { send, type Answer } from '../../../env/http-request.js';
import { handshake, sendHttps } from '../../../env/https-request.js';
import { freePort } from '../../../env/ports.js';
import { waitForServer, type ServerProcess } from '../../../env/server-process.js';
import { startTend } from '../../../env/tend-process.js';
import { setCertificate } from './certificate-rows.js';
import { setRoute } from './routing-rows.js';
import { startBackend, type Echo, type TestBackend } from './test-backend.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('edge_several');
const dir = mkdtempSync(join(tmpdir(), 'tend-edges-'));
const keyFile = join(dir, 'certificates.key');
const HOSTS = ['a.test', 'b.test', 'c.test'];
let url: string;
let store: Store;
let ca: LocalCa;
let caPem: string;
let blue: TestBackend;
let green: TestBackend;
const issued: Record<string, IssuedCertificate> = {};

/** One edge: fixed ports (as behind a load balancer), its own login and state folder. */
interface EdgeSlot {
  readonly name: string;
  readonly http: number;
  readonly https: number;
  readonly admin: number;
  readonly credentials: string;
  process?: ServerProcess;
  starts: number;
}
const edges: EdgeSlot[] = [];

function start(edge: EdgeSlot): ServerProcess {
  edge.starts++;
  edge.process = startTend(`tend edge ${edge.name}`, [
    'edge', '--listen', `127.0.0.1:${edge.http}`, '--https-listen', `127.0.0.1:${edge.https}`, '--admin-listen', `127.0.0.1:${edge.admin}`,
    '--certificates-key-file', keyFile, '--credentials-file', edge.credentials, '--state-dir', join(dir, edge.name), '--log-level', 'warn',
  ], join(dir, `${edge.name}-${edge.starts}.log`));
  return edge.process;
}

const listening = (edge: EdgeSlot) =>
  waitForServer(edge.process!, 'its listening line', async () => (/^tend edge: proxy /m.test(readFileSync(join(dir, `${edge.name}-${edge.starts}.log`), 'utf8')) ? true : undefined));

/** What a load balancer in front does: the first edge that takes the connection answers. */
async function viaAnyEdge(host: string, path = '/'): Promise<Answer & { edge: string }> {
  let last: unknown;
  for (const edge of edges) {
    try {
      return { ...(await send(edge.http, host, path)), edge: edge.name };
    } catch (err) {
      // Refused (down), or reset/hung up (killed under the request): the next edge.
      last = err;
    }
  }
  throw last;
}

const fingerprintOf = (c: IssuedCertificate) => new X509Certificate(c.certificatePem).fingerprint256.replace(/:/g, '').toLowerCase();
const backendOf = (a: Answer) => (JSON.parse(a.body) as Echo).backend;

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  ca = (await LocalCa.loadOrCreate(join(dir, 'ca'), { permitted: ['test'] })).ca;
  caPem = ca.certificatePem();
  issued.first = await ca.issue('a.test', new Date());
  issued.renewed = await ca.issue('a.test', new Date());
  const key = loadOrCreateSealingKey(keyFile);
  await publishCertificatesPublicKey(store, key);
  [blue, green] = await Promise.all([startBackend('blue'), startBackend('green')]);
  for (const host of HOSTS) await setRoute(store, host, '/', `ns/${host.split('.')[0]}`, [blue.row]);
  await setCertificate(store, 'a.test', 'ns/a', issued.first!, key.publicKey);
  for (const name of ['edge-a', 'edge-b']) {
    edges.push({ name, http: await freePort(), https: await freePort(), admin: await freePort(), credentials: await enrolledCredentials(url, 'edge', name, dir), starts: 0 });
  }
  for (const edge of edges) start(edge);
  await Promise.all(edges.map(listening));
});

afterAll(async () => {
  await Promise.all(edges.map((e) => e.process?.kill()));
  await Promise.all([blue?.close(), green?.close()]);
  await store?.close();
  await databases.dropAll();
});

describe('two edges, one killed', () => {
  it('lose no request when one is killed with SIGKILL mid-stream: the other serves every host, over HTTP and HTTPS', async () => {
    const [a, b] = edges as [EdgeSlot, EdgeSlot];
    for (const edge of edges) {
      for (const host of HOSTS) expect((await send(edge.http, host, '/')).status).toBe(200);
      expect(await handshake(edge.https, 'a.test', caPem)).toMatchObject({ fingerprint: fingerprintOf(issued.first!) });
    }
    const answers: (Answer & { edge: string })[] = [];
    let killed: Promise<unknown> | undefined;
    for (let i = 0; i < 300; i++) {
      if (i === 100) killed = a.process!.kill();
      answers.push(await viaAnyEdge(HOSTS[i % HOSTS.length]!, `/n/${i}`));
    }
    expect(await killed).toMatchObject({ signal: 'SIGKILL' });
    expect(answers.filter((x) => x.status !== 200)).toEqual([]);
    // edge-a served until it died (a request or two may still reach it as the signal lands), then
    // everything went to edge-b: the request the kill cut included.
    const switched = answers.findIndex((x) => x.edge === 'edge-b');
    expect(switched).toBeGreaterThanOrEqual(100);
    expect(new Set(answers.slice(0, switched).map((x) => x.edge))).toEqual(new Set(['edge-a']));
    expect(new Set(answers.slice(switched).map((x) => x.edge))).toEqual(new Set(['edge-b']));
    console.log(`300 requests through two edges, edge-a killed at request 100: ${answers.filter((x) => x.status === 200).length} answered 200, ${answers.filter((x) => x.edge === 'edge-b').length} by edge-b`);
    for (const host of HOSTS) expect(backendOf(await send(b.http, host, '/'))).toBe('blue');
    expect((await sendHttps(b.https, 'a.test', '/', caPem)).status).toBe(200);
    await expect(send(a.http, 'a.test', '/')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('start again serving the table and certificates of now, not those of their last run, before they report ready', async () => {
    const a = edges[0]!;
    // Changed while edge-a is down: a new host, a host moved to another backend, a renewed certificate.
    await setRoute(store, 'd.test', '/', 'ns/d', [green.row]);
    await setRoute(store, 'b.test', '/', 'ns/b', [green.row]);
    await setCertificate(store, 'a.test', 'ns/a', issued.renewed!, loadOrCreateSealingKey(keyFile).publicKey);
    expect(readFileSync(join(dir, 'edge-a', 'routing.json'), 'utf8')).not.toContain('d.test');

    start(a);
    // Probe /readyz from the moment the process starts, every 2 ms (tighter than any load
    // balancer), so that a moment of "ready" with an old table would be seen.
    const probes: number[] = [];
    const deadline = Date.now() + 30_000;
    while (probes.at(-1) !== 200) {
      if (Date.now() > deadline) throw new Error(`edge-a not ready within 30 s: ${a.process!.tail(20)}`);
      probes.push(await fetch(`http://127.0.0.1:${a.admin}/readyz`).then((r) => r.status, () => 0));
      if (probes.at(-1) !== 200) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    // At once: the new host, the moved host and the renewed certificate.
    const [d, moved, cert] = await Promise.all([send(a.http, 'd.test', '/'), send(a.http, 'b.test', '/'), handshake(a.https, 'a.test', caPem)]);
    expect(d.status).toBe(200);
    expect(backendOf(d)).toBe('green');
    expect(backendOf(moved)).toBe('green');
    expect(cert).toMatchObject({ fingerprint: fingerprintOf(issued.renewed!) });
    // It said "not ready" (503) while starting, if it was probed before it served.
    expect(probes.filter((s) => s !== 503 && s !== 0 && s !== 200)).toEqual([]);
    console.log(`edge-a restarted: /readyz probed ${probes.length} times (${probes.filter((s) => s === 503).length} × 503, ${probes.filter((s) => s === 0).length} × refused) before its first 200, then served the current table`);
    await listening(a);
  });
});
