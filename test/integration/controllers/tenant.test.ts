import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceType } from '../../../api/resource-types.js';
import type { App } from '../../../api/types/app.js';
import type { Node } from '../../../api/types/node.js';
import type { Tenant } from '../../../api/types/tenant.js';
import type { Volume } from '../../../api/types/volume.js';
import { TENANT_FINALIZER } from '../../../controllers/tenant.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { KubeClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import type { Manager } from '../../../framework/runtime/manager.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { freshNamespace, kubeConfig } from '../../env/context.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import { testShard } from '../../env/shard.js';
import { updateSpec } from '../../env/update-spec.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('tenant');
const shard = testShard('tenant');
const tenants = new KubeClient<Tenant>(resourceType('Tenant'), kubeConfig());
const apps = new KubeClient<App>(resourceType('App'), kubeConfig());
const nodes = new KubeClient<Node>(resourceType('Node'), kubeConfig());
const volumes = new KubeClient<Volume>(resourceType('Volume'), kubeConfig());
const stop = new AbortController();
let store: Store;
let manager: Manager;
let running: Promise<void>;

const rowOf = { name: 'test.tenant_row', text: 'select generation::int as generation, namespaces, writes::int as writes, xmin::text as xmin from platform.tenants where name = $1' };
type Row = { generation: number; namespaces: string[]; writes: number; xmin: string };

beforeAll(async () => {
  store = new Store({ connectionString: await databases.create(), logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  // Resync every 300 ms so the steady-state test sees reconciles that must write nothing.
  manager = buildPlatform({ kubeConfig: kubeConfig(), store, logger, replica: 'test', resyncMs: 300, selector: shard.selector, membership: { heartbeatMs: 200, ttlMs: 1_000, joinDelayMs: 0 } });
  running = manager.start(stop.signal);
});

afterAll(async () => {
  stop.abort();
  await running;
  await databases.dropAll();
});

const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

async function createTenant(name: string, spec: Tenant['spec']): Promise<Tenant> {
  return tenants.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name, labels: shard.labels }, spec });
}

/** Waits until the tenant's Ready condition matches and it has observed its latest generation. */
async function readyState(name: string, match: { status: string; reason?: string }) {
  return eventually(async () => {
    const t = await tenants.get(name as Key);
    const ready = findCondition(t?.status?.conditions, 'Ready');
    const current = t && t.status?.observedGeneration === t.metadata.generation;
    return current && ready?.status === match.status && (!match.reason || ready.reason === match.reason) ? { tenant: t!, ready: ready! } : undefined;
  }, { what: `tenant ${name} Ready=${match.status}${match.reason ? ` (${match.reason})` : ''}` });
}

async function row(name: string): Promise<Row | undefined> {
  return (await store.query<Row>(rowOf, [name]))[0];
}

async function claims(namespace: string): Promise<{ tenant: string }[]> {
  return store.query<{ tenant: string }>({ name: 'test.claims', text: 'select tenant from platform.namespace_claims where namespace = $1 order by claimed_at, tenant' }, [namespace]);
}

async function volumeTenant(key: string): Promise<string | undefined> {
  return (await store.query<{ tenant: string }>({ name: 'test.volume_tenant', text: 'select tenant from platform.volumes where key = $1' }, [key]))[0]?.tenant;
}

async function reconcilesOf(controller: string): Promise<number> {
  const metric = await manager.registry.getSingleMetric('controller_runtime_reconcile_total')!.get();
  return metric.values.filter((v) => v.labels.controller === controller).reduce((sum, v) => sum + v.value, 0);
}

describe('the Tenant controller', () => {
  it('makes a new tenant Ready, with its finalizer, its row written once, and zero usage', async () => {
    const ns = await freshNamespace('t');
    const name = unique('acme');
    await createTenant(name, { namespaces: [ns] });
    const { tenant } = await readyState(name, { status: 'True' });
    expect(tenant.metadata.finalizers).toContain(TENANT_FINALIZER);
    expect(tenant.status?.usage).toEqual({ memory: '0', cpu: '0', instances: 0, apps: 0, volumes: 0, storage: '0', routes: 0 });
    expect(await row(name)).toMatchObject({ generation: 1, namespaces: [ns], writes: 1 });
  });

  it('follows a spec change: observedGeneration moves on and the row is written once more', async () => {
    const [ns1, ns2] = [await freshNamespace('t'), await freshNamespace('t')];
    const name = unique('grow');
    await createTenant(name, { namespaces: [ns1] });
    await readyState(name, { status: 'True' });
    await updateSpec(tenants, name, () => ({ namespaces: [ns1, ns2] }));
    const updated = await readyState(name, { status: 'True' });
    expect(updated.tenant.status?.observedGeneration).toBe(2);
    expect(findCondition(updated.tenant.status?.conditions, 'Ready')?.observedGeneration).toBe(2);
    await eventually(async () => ((await row(name))?.generation === 2 ? true : undefined));
    expect(await row(name)).toMatchObject({ namespaces: [ns1, ns2].sort(), writes: 2 });
  });

  it('gives a namespace to the tenant that listed it first: an older Tenant adding it later takes neither it nor its volumes, and gets it when the first lets go', async () => {
    const [own, shop] = [await freshNamespace('own'), await freshNamespace('shop')];
    const [older, user] = [unique('older'), unique('user')];
    await createTenant(older, { namespaces: [own] });
    await readyState(older, { status: 'True' });
    // creationTimestamp has one-second resolution: make sure the user's Tenant object is younger.
    await eventually(async () => (Date.now() - Date.parse((await tenants.get(older as Key))!.metadata.creationTimestamp!) > 1_000 ? true : undefined));
    await createTenant(user, { namespaces: [shop] });
    await readyState(user, { status: 'True' });
    await volumes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Volume', metadata: { name: 'data', namespace: shop, labels: shard.labels }, spec: { size: '1Gi' } });
    await eventually(async () => ((await volumeTenant(`${shop}/data`)) === user ? true : undefined), { what: 'volume row of the user' });

    // The older Tenant object lists `shop` too: it waits behind the user's claim.
    await updateSpec(tenants, older, () => ({ namespaces: [own, shop] }));
    const { ready } = await readyState(older, { status: 'False', reason: 'NamespaceConflict' });
    expect(ready.message).toBe(`namespace ${shop} belongs to tenant ${user} (claimed first)`);
    expect(await row(older)).toMatchObject({ generation: 2, namespaces: [own] });
    // Several resyncs of the Volume later (300 ms each), it is still the user's.
    const resyncs = await reconcilesOf('volume');
    await eventually(async () => ((await reconcilesOf('volume')) >= resyncs + 3 ? true : undefined), { what: 'volume resyncs' });
    expect(await volumeTenant(`${shop}/data`)).toBe(user);
    expect(findCondition((await tenants.get(user as Key))!.status?.conditions, 'Ready')?.status).toBe('True');

    // The user lets go: its claim goes, and the older tenant, next in line, takes shop and the volume.
    await updateSpec(tenants, user, () => ({ namespaces: [] }));
    await readyState(older, { status: 'True' });
    await eventually(async () => ((await row(older))?.namespaces.length === 2 ? true : undefined), { what: 'row takes the namespace' });
    await eventually(async () => ((await volumeTenant(`${shop}/data`)) === older ? true : undefined), { what: 'volume row moves to the next claimant' });
    // The user's own reconcile drops its claim row; the older tenant goes ahead as soon as the
    // user's spec stops listing shop, so the row may go a moment after.
    await eventually(async () => {
      expect((await claims(shop)).map((c) => c.tenant)).toEqual([older]);
      return true;
    }, { what: 'only the older tenant claims shop' });
    await volumes.delete(`${shop}/data` as Key);
  });

  it('hands a deleted tenant\'s namespace to the next claimant and releases its claims', async () => {
    const ns = await freshNamespace('shared');
    const [first, second] = [unique('first'), unique('second')];
    await createTenant(first, { namespaces: [ns] });
    await readyState(first, { status: 'True' });
    await createTenant(second, { namespaces: [ns] });
    const { ready } = await readyState(second, { status: 'False', reason: 'NamespaceConflict' });
    expect(ready.message).toBe(`namespace ${ns} belongs to tenant ${first} (claimed first)`);
    expect(await row(second)).toMatchObject({ namespaces: [] });
    await tenants.delete(first as Key);
    await readyState(second, { status: 'True' });
    await eventually(async () => ((await row(second))?.namespaces.length === 1 ? true : undefined), { what: 'row takes the namespace' });
    await eventually(async () => ((await claims(ns)).length === 1 ? true : undefined), { what: 'first claim released' });
    expect((await claims(ns)).map((c) => c.tenant)).toEqual([second]);
  });

  it('gives a namespace that many tenants list at once to exactly one, the first claim recorded, and all agree', async () => {
    const ns = await freshNamespace('race');
    const names = Array.from({ length: 8 }, () => unique('racer'));
    await Promise.all(names.map((name) => createTenant(name, { namespaces: [ns] })));
    const settled = await eventually(async () => {
      const all = await Promise.all(names.map(async (name) => {
        const t = await tenants.get(name as Key);
        return t?.status?.observedGeneration === 1 ? findCondition(t.status.conditions, 'NamespacesClaimed') : undefined;
      }));
      return all.every((c) => c !== undefined) ? all.map((c) => c!) : undefined;
    }, { what: 'every racer reports NamespacesClaimed' });
    const [firstClaim] = await claims(ns);
    const winners = names.filter((_, i) => settled[i]!.status === 'True');
    expect(winners).toEqual([firstClaim!.tenant]);
    for (const c of settled.filter((c) => c.status === 'False')) expect(c.message).toBe(`namespace ${ns} belongs to tenant ${firstClaim!.tenant} (claimed first)`);
    expect(await claims(ns)).toHaveLength(names.length);
    for (const name of names) await tenants.delete(name as Key);
  });

  it('reports a suspended tenant not Ready with reason Suspended', async () => {
    const name = unique('paused');
    await createTenant(name, { namespaces: [await freshNamespace('t')], suspended: true });
    await readyState(name, { status: 'False', reason: 'Suspended' });
  });

  it('keeps a deleted tenant while an App remains, says so, then lets it go and removes its row', async () => {
    const ns = await freshNamespace('t');
    const name = unique('leaving');
    await createTenant(name, { namespaces: [ns] });
    await readyState(name, { status: 'True' });
    await apps.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: ns, labels: shard.labels }, spec: { command: ['true'], resources: { memory: '64Mi' } } } as App);
    await eventually(async () => ((await tenants.get(name as Key))?.status?.usage?.apps === 1 ? true : undefined), { what: 'usage counts the app' });

    await tenants.delete(name as Key);
    const blocked = await eventually(async () => {
      const ready = findCondition((await tenants.get(name as Key))?.status?.conditions, 'Ready');
      return ready?.reason === 'DeletionBlocked' ? ready : undefined;
    }, { what: 'DeletionBlocked' });
    expect(blocked.message).toBe('1 app remains; delete it to delete the tenant');
    expect(await row(name)).toBeDefined();

    await apps.delete(`${ns}/web` as Key);
    await eventually(async () => ((await tenants.get(name as Key)) === undefined ? true : undefined), { what: 'tenant gone' });
    expect(await row(name)).toBeUndefined();
  });

  it('writes nothing in steady state: no resourceVersion and no row changes while it keeps reconciling', async () => {
    const names = [unique('quiet'), unique('quiet'), unique('quiet')];
    for (const name of names) await createTenant(name, { namespaces: [await freshNamespace('q')] });
    for (const name of names) await readyState(name, { status: 'True' });
    const snapshot = async () =>
      Promise.all(names.map(async (name) => ({ rv: (await tenants.get(name as Key))!.metadata.resourceVersion, row: await row(name) })));
    const reconciles = async () => {
      const metric = await manager.registry.getSingleMetric('controller_runtime_reconcile_total')!.get();
      return metric.values.filter((v) => v.labels.controller === 'tenant').reduce((sum, v) => sum + v.value, 0);
    };
    const before = await snapshot();
    const reconcilesBefore = await reconciles();
    // Several resync periods pass: each tenant is reconciled again and again, and must write nothing.
    await eventually(async () => ((await reconciles()) >= reconcilesBefore + names.length * 3 ? true : undefined), { what: 'resync reconciles' });
    expect(await snapshot()).toEqual(before);
  });

  /** A Node whose "agent" beats (dated ahead, so it stays alive for the test); nothing runs its instances. */
  async function schedulableNode(): Promise<string> {
    const node = unique('node');
    await nodes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: node, labels: shard.labels }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '4Gi', disk: '10Gi' } } });
    await store.query({
      name: 'test.agent_beat',
      text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement, isolated)
             values ($1, now() + interval '1 hour', now(), 2000, 4294967296, 10737418240, 'rss-polling', true)`,
    }, [node]);
    await eventually(async () => ((await store.query<{ state: string }>({ name: 'test.node_state', text: 'select state from platform.nodes where name = $1' }, [node]))[0]?.state === 'ready' ? true : undefined), { what: `${node} schedulable` });
    return node;
  }

  it('counts what is placed as usage, and spec.quota.instances stops placement with QuotaExceeded', async () => {
    const ns = await freshNamespace('t');
    const name = unique('capped');
    await schedulableNode();
    await createTenant(name, { namespaces: [ns], quota: { instances: 3 } });
    await apps.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: ns, labels: shard.labels }, spec: { replicas: 5, command: ['true'], resources: { memory: '64Mi', cpu: '100m' } } } as App);

    const scheduled = await eventually(async () => {
      const c = findCondition((await apps.get(`${ns}/web` as Key))?.status?.conditions, 'Scheduled');
      return c?.reason === 'QuotaExceeded' ? c : undefined;
    }, { what: 'Scheduled=False QuotaExceeded' });
    expect(scheduled).toMatchObject({ status: 'False', message: `tenant ${name}'s instance quota (spec.quota.instances): 3 of 3 placed, 2 more not placed` });
    // Usage is the 3 placed instances, not the 5 asked for.
    const usage = async () => (await tenants.get(name as Key))?.status?.usage;
    await eventually(async () => ((await usage())?.instances === 3 ? true : undefined), { what: 'usage counts the placed instances' });
    expect(await usage()).toMatchObject({ memory: '192Mi', cpu: '300m', instances: 3, apps: 1 });

    // Scaled to 1: the App stops two, the "agent" reports them stopped, the rows go, usage follows.
    const reportStopped = () => store.query({ name: 'test.report_stopped', text: `update platform.instances set phase = 'stopped' where app = $1 and desired = 'stopped' and phase is distinct from 'stopped'` }, [`${ns}/web`]);
    await updateSpec(apps, `${ns}/web`, (spec) => ({ ...spec, replicas: 1 }));
    await eventually(async () => {
      await reportStopped();
      return (await usage())?.instances === 1 ? true : undefined;
    }, { what: 'usage follows the removed instances' });
    expect(await usage()).toMatchObject({ memory: '64Mi', cpu: '100m', instances: 1 });

    await apps.delete(`${ns}/web` as Key);
    await eventually(async () => {
      await reportStopped();
      return (await apps.get(`${ns}/web` as Key)) === undefined ? true : undefined;
    }, { what: 'app gone' });
  });

  it('never places a size that rounds to 0 or is beyond any node: refused at apply time, or Scheduled=False InvalidResources', async () => {
    const ns = await freshNamespace('t');
    await schedulableNode();
    await createTenant(unique('tiny'), { namespaces: [ns] });
    const sizes = [{ memory: '1m', field: 'spec.resources.memory rounds to 0 bytes' }, { memory: '1e999', field: 'spec.resources.memory is larger than any node' }];
    for (const [i, size] of sizes.entries()) {
      const app = { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: `tiny-${i}`, namespace: ns, labels: shard.labels }, spec: { replicas: 3, command: ['true'], resources: { memory: size.memory } } } as App;
      const admitted = await apps.create(app).then(() => true, (err: Error) => {
        expect(err.message).toContain('spec.resources.memory');
        return false;
      });
      if (!admitted) continue; // bounded at apply time: the schema's job
      const scheduled = await eventually(async () => {
        const c = findCondition((await apps.get(`${ns}/tiny-${i}` as Key))?.status?.conditions, 'Scheduled');
        return c?.reason === 'InvalidResources' ? c : undefined;
      }, { what: `tiny-${i} Scheduled=False InvalidResources` });
      expect(scheduled.message).toContain(size.field);
      expect((await store.query<{ n: number }>({ name: 'test.placed_of', text: 'select count(*)::int as n from platform.instances where app = $1' }, [`${ns}/tiny-${i}`]))[0]!.n).toBe(0);
      await apps.delete(`${ns}/tiny-${i}` as Key);
    }
  });
});
