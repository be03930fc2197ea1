/**
 * A rate-limited Route on one edge (issue 19 §2): over its limit the edge answers 429 with
 * Retry-After itself, the App never sees those requests, and the refusals are counted by Route.
 * The edge runs as an enrolled edge login, whose rights on platform.edge_members are its own rows.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, type Edge } from '../../../../agents/edge/index.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { enrolledCredentials } from '../../../env/enroll.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';
import { metric, send } from '../../../env/http-request.js';
import { setRoute } from './routing-rows.js';
import { startBackend, type TestBackend } from './test-backend.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('edge_rate_limit');
const dir = mkdtempSync(join(tmpdir(), 'tend-rate-limit-'));
let admin: Store;
let edgeStore: Store;
let otherStore: Store;
let edge: Edge;
let backend: TestBackend;

const loginUrl = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { databaseUrl: string }).databaseUrl;
const metricsUrl = () => `http://127.0.0.1:${edge.adminAddress.port}/metrics`;

beforeAll(async () => {
  const url = await databases.create();
  admin = new Store({ connectionString: url, logger });
  await migrate(admin, { tracks: [frameworkMigrations, platformMigrations] });
  backend = await startBackend('blue');
  // One a second, two at once: a client sending faster sees the third refused.
  await setRoute(admin, 'limited.test', '/', 'ns/limited', [backend.row], { requestsPerSecond: 1, burst: 2 });
  await setRoute(admin, 'free.test', '/', 'ns/free', [backend.row]);
  const [edgeUrl, otherUrl] = [loginUrl(await enrolledCredentials(url, 'edge', 'edge-1', dir)), loginUrl(await enrolledCredentials(url, 'edge', 'edge-2', dir))];
  edgeStore = new Store({ connectionString: edgeUrl, logger, poolSize: 2 });
  otherStore = new Store({ connectionString: otherUrl, logger, poolSize: 1 });
  edge = await startEdge({ store: edgeStore, listenUrl: edgeUrl, logger, listen: { host: '127.0.0.1', port: 0 }, memberName: 'edge-1 test' });
});

afterAll(async () => {
  await edge?.stop();
  await backend?.close();
  await Promise.all([edgeStore?.close(), otherStore?.close(), admin?.close()]);
  await databases.dropAll();
});

describe('a rate-limited Route on an edge', () => {
  it('answers 429 with Retry-After past its burst, forwards nothing of it, counts it by Route, and leaves other Routes alone', async () => {
    expect(edge.members()).toBe(1);
    expect(await metric(metricsUrl(), 'tend_edge_members')).toBe(1);
    const before = backend.seen.length;
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await send(edge.address.port, 'limited.test', `/n/${i}`));
    // Four requests well within a second: two from the bucket, then none for a second.
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429, 429]);
    expect(answers[2]).toMatchObject({ body: 'too many requests\n', headers: { 'retry-after': '1', 'cache-control': 'no-store' } });
    expect(backend.seen.length - before).toBe(2);
    expect(await metric(metricsUrl(), 'tend_edge_rate_limited_total', { route: 'ns/limited' })).toBe(2);
    expect(await metric(metricsUrl(), 'tend_edge_requests_total', { route: 'ns/limited', code_class: '4xx' })).toBe(2);
    for (let i = 0; i < 10; i++) expect((await send(edge.address.port, 'free.test', '/')).status).toBe(200);
    // Refilled at one a second: admitted again within about a second.
    await eventually(async () => ((await send(edge.address.port, 'limited.test', '/later')).status === 200 ? true : undefined), { timeoutMs: 3_000, what: 'a token again' });
  });

  it('follows a changed limit from the routing table', async () => {
    await setRoute(admin, 'limited.test', '/', 'ns/limited', [backend.row], { requestsPerSecond: 1000, burst: 1000 });
    await eventually(async () => {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => send(edge.address.port, 'limited.test', '/').then((a) => a.status)));
      return statuses.every((s) => s === 200) ? true : undefined;
    }, { what: 'twenty at once admitted' });
  });

  it('is among the edge members with its own row, which another edge login can neither change nor take over', async () => {
    const rows = await admin.query<{ edge: string; name: string }>({ name: 'test.edge_members', text: 'select edge, name from platform.edge_members where expires_at > now()' });
    expect(rows).toEqual([{ edge: 'edge-1', name: 'edge-1 test' }]);
    const tamper = await otherStore.query<{ id: string }>({ name: 'test.edge_members_tamper', text: `update platform.edge_members set demand = '{"ns/limited": 1e9}' where edge = 'edge-1' returning id::text as id` });
    expect(tamper).toEqual([]);
    await expect(otherStore.query({ name: 'test.edge_members_forge', text: `insert into platform.edge_members (edge, name, expires_at) values ('edge-1', 'forged', now() + interval '1 hour')` })).rejects.toThrow(/permission denied/);
    // Its own rows it may write: the edge column comes from its login.
    const [own] = await otherStore.query<{ edge: string }>({ name: 'test.edge_members_own', text: `insert into platform.edge_members (name, expires_at) values ('edge-2 by hand', now()) returning edge` });
    expect(own).toEqual({ edge: 'edge-2' });
  });
});
