/**
 * What a Tenant promises its Apps and Routes, end to end with real parts: controllers in this
 * process on the PostgreSQL backend, one `tend agent` process running real instances, and a
 * `tend edge` process serving them.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../../api/admission.js';
import type { App } from '../../../api/types/app.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { buildPlatform, platformClients } from '../../../controllers/platform.js';
import { PostgresClient, type Resource, type ResourceClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import { send } from '../../env/http-request.js';
import { freePort } from '../../env/ports.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';
import { updateSpec } from '../../env/update-spec.js';

const HEARTBEAT_MS = 1_000;
// Short enough for a test, long enough to restart the controllers inside it.
const NO_TENANT_GRACE_MS = 8_000;
const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('tenancy');
const dir = mkdtempSync(join(tmpdir(), 'tend-tenancy-'));
let stop = new AbortController();
let url: string;
let store: Store;
let clients: ReturnType<typeof platformClients>;
let running: Promise<void>;
let agent: ServerProcess;
let edge: ServerProcess;
let edgePort: number;

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  clients = platformClients((type) => new PostgresClient(type, store, { listenUrl: url, admit }));
  startControllers();
  await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' } } });
  agent = startTend('agent-n1', ['agent', '--node', 'n1', '--database-url', url, '--state-dir', join(dir, 'agent-n1'), '--heartbeat-ms', String(HEARTBEAT_MS), '--poll-ms', '500', '--crash-backoff-ms', '200'], join(dir, 'agent-n1.log'));
  edgePort = await freePort();
  edge = startTend('edge', ['edge', '--listen', `127.0.0.1:${edgePort}`, '--database-url', url, '--state-dir', join(dir, 'edge'), '--check-ms', '1000', '--log-level', 'warn'], join(dir, 'edge.log'));
  await condition(clients.node, 'n1', 'Ready', 'True');
}, 120_000);

afterAll(async () => {
  for (const app of (await clients?.app.list())?.items ?? []) await clients.app.delete(`${app.metadata.namespace}/${app.metadata.name}` as Key);
  await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.count_instances', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0 ? true : undefined), { what: 'every instance gone', timeoutMs: 30_000 }).catch(() => {});
  await Promise.all([agent?.stop(), edge?.stop()]);
  stop.abort();
  await running;
  await store?.close();
  await databases.dropAll();
});

/** The control plane in this process; started again, it knows only what PostgreSQL and the resources hold. */
function startControllers(): void {
  stop = new AbortController();
  const cluster = { heartbeatMs: HEARTBEAT_MS, lostGraceMs: 2_000, noTenantGraceMs: NO_TENANT_GRACE_MS };
  // A pool of its own: the manager closes its store when it stops.
  const own = new Store({ connectionString: url, logger });
  running = buildPlatform({ store: own, logger, replica: 'test', membership: false, cluster }).start(stop.signal);
}

async function condition<T extends Resource>(client: ResourceClient<T>, key: string, type: string, status: string, reason?: string) {
  return eventually(async () => {
    const obj = await client.get(key as Key);
    const c = findCondition((obj?.status as { conditions?: [] } | undefined)?.conditions, type);
    return c?.status === status && (!reason || c.reason === reason) ? c : undefined;
  }, { what: `${key} ${type}=${status} ${reason ?? ''}`, timeoutMs: 45_000 });
}

/** Changes a Tenant's spec, re-reading when the Tenant controller wrote in between. */
async function updateTenant(name: string, change: (spec: NonNullable<Tenant['spec']>) => NonNullable<Tenant['spec']>): Promise<void> {
  await updateSpec(clients.tenant, name, change);
}

const runningInstances = (app: string) =>
  store.query<{ id: string; port: number | null; ready: boolean }>({ name: 'test.running_of', text: `select id, port, ready from platform.instances where app = $1 and desired = 'running' order by id` }, [app]);
const instanceCount = async (app: string) =>
  (await store.query<{ n: number }>({ name: 'test.instances_count', text: 'select count(*)::int as n from platform.instances where app = $1' }, [app]))[0]!.n;
const viaEdge = (host: string) => send(edgePort, host, '/').catch(() => ({ status: 0, body: '' }));

function hello(namespace: string, name: string, replicas: number): App {
  return {
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'App',
    metadata: { name, namespace },
    spec: { replicas, command: ['node', 'examples/hello-server.mjs'], resources: { memory: '64Mi', cpu: '100m' }, healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 } },
  };
}

async function served(host: string): Promise<string> {
  const answer = await eventually(async () => {
    const r = await viaEdge(host);
    return r.status === 200 ? r : undefined;
  }, { what: `${host} served through the edge`, timeoutMs: 45_000 });
  return answer.body;
}

describe('a suspended tenant', () => {
  it('has its instances stopped and its routes answer 503 "service suspended" through the edge; unsuspended, both come back', async () => {
    await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['acme'], allowedHostnames: ['*.acme.test'] } });
    await clients.app.create(hello('acme', 'web', 2));
    await clients.route.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name: 'web', namespace: 'acme' }, spec: { host: 'web.acme.test', app: 'web' } });
    expect(await served('web.acme.test')).toMatch(/^hello from acme\.web-/);
    const before = await runningInstances('acme/web');
    expect(before).toHaveLength(2);

    await updateTenant('acme', (spec) => ({ ...spec, suspended: true }));
    const answer = await eventually(async () => {
      const r = await viaEdge('web.acme.test');
      return r.status === 503 ? r : undefined;
    }, { what: '503 through the edge', timeoutMs: 30_000 });
    expect(answer.body).toBe('service suspended\n');
    const appReady = await condition(clients.app, 'acme/web', 'Ready', 'False', 'TenantSuspended');
    expect(appReady.message).toMatch(/^tenant acme is suspended \(spec\.suspended\): its instances are stopped/);
    const routeReady = await condition(clients.route, 'acme/web', 'Ready', 'False', 'TenantSuspended');
    expect(routeReady.message).toBe('tenant acme is suspended: requests get 503 "service suspended"');
    // The processes are gone, not only unrouted, and nothing new is placed while suspended.
    await eventually(async () => ((await instanceCount('acme/web')) === 0 ? true : undefined), { what: 'instances stopped and forgotten', timeoutMs: 30_000 });
    for (const i of before) await expect(fetch(`http://127.0.0.1:${i.port}/`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
    expect((await clients.route.get('acme/web' as Key))?.status?.backends).toEqual([]);
    expect((await viaEdge('web.acme.test')).status).toBe(503);

    await updateTenant('acme', (spec) => ({ ...spec, suspended: false }));
    expect(await served('web.acme.test')).toMatch(/^hello from acme\.web-/);
    await condition(clients.app, 'acme/web', 'Ready', 'True');
    await condition(clients.route, 'acme/web', 'Ready', 'True');
    expect(await runningInstances('acme/web')).toHaveLength(2);
  });
});

describe('a namespace that loses its Tenant', () => {
  it('has its Apps say NoTenant, keeps their instances for the grace (across a controller restart), then stops them; claimed again, they run', async () => {
    await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'shops' }, spec: { namespaces: ['kept', 'shop'], allowedHostnames: ['*.shop.test'] } });
    await clients.app.create(hello('shop', 'store', 2));
    await condition(clients.app, 'shop/store', 'Ready', 'True');
    const before = await runningInstances('shop/store');
    expect(before).toHaveLength(2);

    await updateTenant('shops', (spec) => ({ ...spec, namespaces: ['kept'] }));
    const held = await condition(clients.app, 'shop/store', 'Ready', 'False', 'NoTenant');
    const [, since, deadline] = /since (\S+): its instances stop at (\S+) \(grace 8s\) unless you add it to a Tenant's spec\.namespaces$/.exec(held.message) ?? [];
    expect(since, held.message).toBeDefined();
    expect(Date.parse(deadline!) - Date.parse(since!)).toBe(NO_TENANT_GRACE_MS);
    // Within the grace the instances still run and serve.
    expect((await runningInstances('shop/store')).map((i) => i.id)).toEqual(before.map((i) => i.id));
    for (const i of before) expect((await fetch(`http://127.0.0.1:${i.port}/`, { signal: AbortSignal.timeout(2_000) })).status).toBe(200);

    // A restarted control plane counts from the moment PostgreSQL recorded, not from its own start.
    stop.abort();
    await running;
    startControllers();
    await eventually(async () => ((await instanceCount('shop/store')) === 0 ? true : undefined), { what: 'instances stopped after the grace', timeoutMs: 45_000 });
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(deadline!));
    const stopped = await condition(clients.app, 'shop/store', 'Available', 'False', 'NoTenant');
    expect(stopped.message).toMatch(/belongs to no Tenant/);
    for (const i of before) await expect(fetch(`http://127.0.0.1:${i.port}/`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();

    await updateTenant('shops', (spec) => ({ ...spec, namespaces: ['kept', 'shop'] }));
    await condition(clients.app, 'shop/store', 'Ready', 'True');
    expect(await runningInstances('shop/store')).toHaveLength(2);
    const marked = await store.query<{ n: number }>({ name: 'test.no_tenant_marked', text: `select count(*)::int as n from platform.instances where app = 'shop/store' and no_tenant_since is not null` });
    expect(marked[0]!.n).toBe(0);
  });

  it('clears the mark when a Tenant claims the namespace within the grace, so a later loss counts afresh', async () => {
    await updateTenant('shops', (spec) => ({ ...spec, namespaces: ['kept'] }));
    await condition(clients.app, 'shop/store', 'Ready', 'False', 'NoTenant');
    await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.no_tenant_marked', text: `select count(*)::int as n from platform.instances where app = 'shop/store' and no_tenant_since is not null` }))[0]!.n === 2 ? true : undefined), { what: 'both instances marked' });
    await updateTenant('shops', (spec) => ({ ...spec, namespaces: ['kept', 'shop'] }));
    await condition(clients.app, 'shop/store', 'Ready', 'True');
    await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.no_tenant_marked', text: `select count(*)::int as n from platform.instances where app = 'shop/store' and no_tenant_since is not null` }))[0]!.n === 0 ? true : undefined), { what: 'marks cleared' });
    expect(await runningInstances('shop/store')).toHaveLength(2);
  });
});

describe('a tenant with a route quota', () => {
  it('serves its oldest Routes up to spec.quota.routes, says QuotaExceeded for the next, and serves it once an older one goes', async () => {
    await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'routed' }, spec: { namespaces: ['routed'], allowedHostnames: ['*.routed.test'], quota: { routes: 1 } } });
    await clients.app.create(hello('routed', 'web', 1));
    const route = (name: string) => ({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name, namespace: 'routed' }, spec: { host: `${name}.routed.test`, app: 'web' } }) as const;
    await clients.route.create(route('first'));
    expect(await served('first.routed.test')).toMatch(/^hello from routed\.web-/);
    // Creation times have one-second resolution (a tie goes to the name): make the second younger.
    const first = (await clients.route.get('routed/first' as Key))!;
    await eventually(() => (Date.now() - Date.parse(first.metadata.creationTimestamp!) > 1_000 ? true : undefined));
    await clients.route.create(route('second'));
    const refused = await condition(clients.route, 'routed/second', 'Accepted', 'False', 'QuotaExceeded');
    expect(refused.message).toBe("tenant routed's route quota: 1 route allowed, this is route 2 of 2; it is not served");
    expect((await viaEdge('second.routed.test')).status).toBe(404);
    const usage = await eventually(async () => {
      const t = await clients.tenant.get('routed' as Key);
      return t?.status?.usage?.routes === 2 ? t : undefined;
    }, { what: 'usage.routes 2' });
    expect(findCondition(usage.status?.conditions, 'WithinQuota')).toMatchObject({ status: 'False', reason: 'QuotaExceeded', message: 'routes: 2 of 1' });

    await clients.route.delete('routed/first' as Key);
    expect(await served('second.routed.test')).toMatch(/^hello from routed\.web-/);
    await condition(clients.route, 'routed/second', 'Accepted', 'True');
  });
});

describe('a tenant with an app quota', () => {
  it('counts only the Apps of namespaces it owns: one it lists but another tenant claimed first adds nothing', async () => {
    await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'first' }, spec: { namespaces: ['taken'] } });
    await condition(clients.tenant, 'first', 'Ready', 'True');
    await clients.app.create(hello('taken', 'older', 1));
    const older = (await clients.app.get('taken/older' as Key))!;
    // Creation times have one-second resolution: the counted tenant's Apps are younger.
    await eventually(() => (Date.now() - Date.parse(older.metadata.creationTimestamp!) > 1_000 ? true : undefined));
    await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'counted' }, spec: { namespaces: ['mine', 'taken'], quota: { apps: 1 } } });
    await condition(clients.tenant, 'counted', 'NamespacesClaimed', 'False');
    await clients.app.create(hello('mine', 'one', 1));
    await condition(clients.app, 'mine/one', 'Scheduled', 'True');
    await clients.app.create(hello('mine', 'two', 1));
    const refused = await condition(clients.app, 'mine/two', 'Scheduled', 'False', 'QuotaExceeded');
    expect(refused.message).toBe("tenant counted's app quota: 1 app allowed, this is app 2 of 2");
  });
});

describe('a tenant with volume and storage quotas', () => {
  const volume = (name: string, size: string, node?: string) =>
    ({ apiVersion: 'tend.dev/v1alpha1', kind: 'Volume', metadata: { name, namespace: 'stored' }, spec: { size, ...(node ? { node } : {}) } }) as const;

  it('binds a pinned Volume within quota.volumes, leaves the next unbound with QuotaExceeded, and binds it when the first goes', async () => {
    await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'stored' }, spec: { namespaces: ['stored'], quota: { volumes: 1, storage: '3Gi' } } });
    await clients.volume.create(volume('first', '1Gi', 'n1'));
    await condition(clients.volume, 'stored/first', 'Bound', 'True');
    await clients.volume.create(volume('second', '1Gi', 'n1'));
    const refused = await condition(clients.volume, 'stored/second', 'Bound', 'False', 'QuotaExceeded');
    expect(refused.message).toBe("tenant stored's volume quota: 1 volume allowed, 1 bound; not provisioned until one is deleted or the quota raised");
    const [row] = await store.query<{ node: string | null }>({ name: 'test.volume_node', text: `select node from platform.volumes where key = 'stored/second'` });
    expect(row?.node).toBeNull();

    await clients.volume.delete('stored/first' as Key);
    await condition(clients.volume, 'stored/second', 'Bound', 'True');
  });

  it('does not start an App whose unbound volume would pass quota.storage: Scheduled=False QuotaExceeded', async () => {
    await updateTenant('stored', (spec) => ({ ...spec, quota: { storage: '3Gi' } }));
    await clients.volume.create(volume('big', '4Gi'));
    await clients.app.create({ ...hello('stored', 'db', 1), spec: { ...hello('stored', 'db', 1).spec!, volumes: [{ volume: 'big', mountPath: '/data' }] } });
    const held = await condition(clients.app, 'stored/db', 'Scheduled', 'False', 'QuotaExceeded');
    expect(held.message).toBe("tenant stored's storage quota: 3.0Gi allowed, 1.0Gi bound, 4.0Gi more would exceed it; not provisioned until space is freed or the quota raised");
    await condition(clients.volume, 'stored/big', 'Bound', 'False', 'QuotaExceeded');
    expect(await runningInstances('stored/db')).toEqual([]);

    await updateTenant('stored', (spec) => ({ ...spec, quota: { storage: '5Gi' } }));
    await condition(clients.app, 'stored/db', 'Ready', 'True');
    await condition(clients.volume, 'stored/big', 'Bound', 'True');
  });
});
