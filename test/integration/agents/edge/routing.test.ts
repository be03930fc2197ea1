import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, type Edge } from '../../../../agents/edge/index.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';
import { metric, send } from '../../../env/http-request.js';
import { deleteRoute, routingVersion, setRoute } from './routing-rows.js';
import { startBackend, type Echo, type TestBackend } from './test-backend.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('edge_routing');
let url: string;
let store: Store;
let edge: Edge;
let blue: TestBackend;
let green: TestBackend;

const echo = (body: string) => JSON.parse(body) as Echo;
const get = async (host: string, path = '/') => {
  const answer = await send(edge.address.port, host, path);
  return { ...answer, backend: answer.status === 200 ? echo(answer.body).backend : undefined };
};

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  [blue, green] = await Promise.all([startBackend('blue'), startBackend('green')]);
  await setRoute(store, 'shop.test', '/', 'shop/web', [blue.row]);
  await setRoute(store, 'shop.test', '/api', 'shop/api', [green.row]);
  await setRoute(store, '*.apps.test', '/', 'apps/any', [green.row]);
  await setRoute(store, 'empty.test', '/', 'ns/empty', []);
  // A check period far beyond any test: changes can only arrive by NOTIFY here.
  edge = await startEdge({ store, listenUrl: url, logger, listen: { host: '127.0.0.1', port: 0 }, checkMs: 600_000 });
});

afterAll(async () => {
  await edge?.stop();
  await Promise.all([blue?.close(), green?.close()]);
  await store?.close();
  await databases.dropAll();
});

describe('the edge', () => {
  it('sends a request by its host to the backend, with the forwarding headers of a first hop', async () => {
    const answer = await send(edge.address.port, 'Shop.Test:8080', '/cart?item=1', { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(answer.status).toBe(200);
    const seen = echo(answer.body);
    expect(seen).toMatchObject({ backend: 'blue', method: 'GET', url: '/cart?item=1' });
    expect(seen.headers).toMatchObject({
      host: 'Shop.Test:8080',
      // The client's own X-Forwarded-For is dropped: 127.0.0.1 is no trusted proxy.
      'x-forwarded-for': '127.0.0.1',
      'x-real-ip': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'Shop.Test:8080',
      forwarded: 'for=127.0.0.1;host="Shop.Test:8080";proto=http',
    });
  });

  it('serves a wildcard host for one or more labels, never the bare domain', async () => {
    expect((await get('web.apps.test')).backend).toBe('green');
    expect((await get('a.b.apps.test')).backend).toBe('green');
    expect((await get('apps.test')).status).toBe(404);
  });

  it('gives the longest path prefix, by whole segments', async () => {
    expect((await get('shop.test', '/api/orders')).backend).toBe('green');
    expect((await get('shop.test', '/api')).backend).toBe('green');
    expect((await get('shop.test', '/apix')).backend).toBe('blue');
  });

  it('answers 404 with a short reason for an unknown host', async () => {
    const answer = await send(edge.address.port, 'nowhere.test', '/');
    expect(answer).toMatchObject({ status: 404, body: 'no route for host nowhere.test\n' });
    expect(answer.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('answers 503 when a route has no healthy backend, without naming the route', async () => {
    expect(await send(edge.address.port, 'empty.test', '/')).toMatchObject({ status: 503, body: 'no healthy backend\n' });
  });

  it('serves a changed, added and deleted route after the notification', async () => {
    await setRoute(store, 'notify.test', '/', 'ns/notify', [blue.row]);
    await eventually(async () => expect((await get('notify.test')).backend).toBe('blue'), { what: 'new route served' });
    await setRoute(store, 'notify.test', '/', 'ns/notify', [green.row]);
    await eventually(async () => expect((await get('notify.test')).backend).toBe('green'), { what: 'changed route served' });
    await deleteRoute(store, 'notify.test', '/');
    await eventually(async () => expect((await get('notify.test')).status).toBe(404), { what: 'deleted route gone' });
    const version = await routingVersion(store);
    expect(edge.routingVersion()).toBe(version);
    expect(await metric(`http://127.0.0.1:${edge.adminAddress.port}/metrics`, 'tend_edge_routing_version')).toBe(Number(version));
  });

  it('counts requests by route and status class on the admin port', async () => {
    await get('shop.test', '/');
    const metrics = `http://127.0.0.1:${edge.adminAddress.port}/metrics`;
    expect(await metric(metrics, 'tend_edge_requests_total', { route: 'shop/web', code_class: '2xx' })).toBeGreaterThan(0);
    expect(await metric(metrics, 'tend_edge_requests_total', { route: 'none', code_class: '4xx' })).toBeGreaterThan(0);
    expect(await metric(metrics, 'tend_edge_request_duration_seconds_count', { route: 'shop/web' })).toBeGreaterThan(0);
    expect(await (await fetch(`http://127.0.0.1:${edge.adminAddress.port}/healthz`)).text()).toBe('ok');
  });
});

describe('an edge whose notification was lost', () => {
  it('finds the change at its next version check', async () => {
    await using second = await startEdge({ store, listenUrl: url, logger, listen: { host: '127.0.0.1', port: 0 }, checkMs: 200 });
    await setRoute(store, 'missed.test', '/', 'ns/missed', [blue.row]);
    await eventually(async () => expect((await send(second.address.port, 'missed.test', '/')).status).toBe(200));
    const before = await routingVersion(store);
    await eventually(() => expect(edge.routingVersion()).toBe(before), { what: 'the first edge at the same version' });
    // The change and its version bump, without the trigger's NOTIFY: what a lost notification leaves behind.
    await store.tx(async (tx) => {
      await tx.script({ name: 'test.edge_trigger_off', text: 'alter table platform.routing disable trigger routing_changed' });
      await setRoute(tx, 'missed.test', '/', 'ns/missed', [green.row]);
      await tx.query({ name: 'test.edge_bump_version', text: 'update platform.routing_version set version = version + 1' });
      await tx.script({ name: 'test.edge_trigger_on', text: 'alter table platform.routing enable trigger routing_changed' });
    });
    await eventually(async () => expect(echo((await send(second.address.port, 'missed.test', '/')).body).backend).toBe('green'), { what: 'change seen by the check' });
    // The first edge listens too and checks only every 10 minutes: it never heard of it.
    expect(echo((await send(edge.address.port, 'missed.test', '/')).body).backend).toBe('blue');
  });
});
