import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceType } from '../../../api/resource-types.js';
import type { Route } from '../../../api/types/route.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { KubeClient } from '../../../framework/client/index.js';
import { findCondition, type Condition } from '../../../framework/conditions/index.js';
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
const databases = new FreshDatabases('route');
const shard = testShard('route');
const tenants = new KubeClient<Tenant>(resourceType('Tenant'), kubeConfig());
const routes = new KubeClient<Route>(resourceType('Route'), kubeConfig());
const stop = new AbortController();
let store: Store;
let manager: Manager;
let running: Promise<void>;

beforeAll(async () => {
  store = new Store({ connectionString: await databases.create(), logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  manager = buildPlatform({ kubeConfig: kubeConfig(), store, logger, replica: 'test', resyncMs: 2_000, selector: shard.selector, membership: { heartbeatMs: 200, ttlMs: 1_000, joinDelayMs: 0 } });
  running = manager.start(stop.signal);
});

afterAll(async () => {
  stop.abort();
  await running;
  await databases.dropAll();
});

const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

/** A tenant of a fresh namespace of its own, allowed `hostnames`. */
async function tenantWith(prefix: string, allowedHostnames: string[]): Promise<{ name: string; ns: string }> {
  const [name, ns] = [unique(prefix), await freshNamespace(prefix)];
  await tenants.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name, labels: shard.labels }, spec: { namespaces: [ns], allowedHostnames } });
  await eventually(async () => (findCondition((await tenants.get(name as Key))?.status?.conditions, 'NamespacesClaimed')?.status === 'True' ? true : undefined), { what: `tenant ${name} owns ${ns}` });
  return { name, ns };
}

async function createRoute(ns: string, name: string, host: string, pathPrefix = '/'): Promise<void> {
  await routes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name, namespace: ns, labels: shard.labels }, spec: { host, pathPrefix, app: 'web' } });
}

/** Waits until the Route's Accepted condition (for its current generation) matches. */
async function accepted(key: string, status: 'True' | 'False', reason?: string): Promise<Condition> {
  return eventually(async () => {
    const r = await routes.get(key as Key);
    const c = findCondition(r?.status?.conditions, 'Accepted');
    return r && r.status?.observedGeneration === r.metadata.generation && c?.status === status && (!reason || c.reason === reason) ? c : undefined;
  }, { what: `route ${key} Accepted=${status}${reason ? ` (${reason})` : ''}` });
}

async function servedBy(host: string): Promise<Record<string, string>> {
  const rows = await store.query<{ pathPrefix: string; route: string }>({ name: 'test.routing_of_host', text: 'select path_prefix as "pathPrefix", route from platform.routing where host = $1' }, [host]);
  return Object.fromEntries(rows.map((r) => [r.pathPrefix, r.route]));
}

async function hostnames(name: string): Promise<Condition | undefined> {
  return findCondition((await tenants.get(name as Key))?.status?.conditions, 'HostnamesExclusive');
}

describe('the Route controller', () => {
  it('gives a host to the tenant that claimed it first with all its path prefixes: another tenant\'s older Route for /login gets HostConflict, never a slice', async () => {
    const host = `${unique('victim')}.example`;
    const victim = await tenantWith('victim', [host]);
    // The rival's Route exists first, but its tenant may not serve the host yet: no claim.
    const rival = await tenantWith('rival', []);
    await createRoute(rival.ns, 'login', host, '/login');
    await accepted(`${rival.ns}/login`, 'False', 'HostNotAllowed');
    await createRoute(victim.ns, 'home', host);
    await accepted(`${victim.ns}/home`, 'True');

    // Now both tenants list the host: reported on both, and the first claim keeps it all.
    await updateSpec(tenants, rival.name, (spec) => ({ ...spec, allowedHostnames: [host] }));
    const conflict = await accepted(`${rival.ns}/login`, 'False', 'HostConflict');
    expect(conflict.message).toBe(`host ${host} belongs to another tenant, which claimed it first; a host is served by one tenant with all its path prefixes`);
    expect(conflict.message).not.toContain(victim.name);
    expect(conflict.message).not.toContain(victim.ns);
    expect(await servedBy(host)).toEqual({ '/': `${victim.ns}/home` });
    await eventually(async () => ((await hostnames(rival.name))?.reason === 'HostnamesOverlap' ? true : undefined), { what: 'rival reports the overlap' });
    expect((await hostnames(rival.name))!.message).toBe(`${host} is also allowed to tenant ${victim.name}: each host it matches goes to the tenant whose Route claims it first`);
    await eventually(async () => ((await hostnames(victim.name))?.message === `${host} is also allowed to tenant ${rival.name}: each host it matches goes to the tenant whose Route claims it first` ? true : undefined), { what: 'victim reports the overlap' });

    // The owner's own Routes still split the host by path prefix.
    await createRoute(victim.ns, 'login', host, '/login');
    await accepted(`${victim.ns}/login`, 'True');
    expect(await servedBy(host)).toEqual({ '/': `${victim.ns}/home`, '/login': `${victim.ns}/login` });
    // A resync later (2 s), nothing moved.
    await eventually(async () => (Date.now() - Date.parse(findCondition((await routes.get(`${victim.ns}/login` as Key))!.status!.conditions, 'Accepted')!.lastTransitionTime) > 2_500 ? true : undefined), { timeoutMs: 10_000 });
    expect(findCondition((await routes.get(`${rival.ns}/login` as Key))!.status!.conditions, 'Accepted')?.reason).toBe('HostConflict');
    expect(await servedBy(host)).toEqual({ '/': `${victim.ns}/home`, '/login': `${victim.ns}/login` });

    // Once the owner has no Route on the host, the next claimant takes it.
    await routes.delete(`${victim.ns}/home` as Key);
    await routes.delete(`${victim.ns}/login` as Key);
    await accepted(`${rival.ns}/login`, 'True');
    await eventually(async () => ((await servedBy(host))['/login'] === `${rival.ns}/login` ? true : undefined), { what: 'rival served' });
    expect(await servedBy(host)).toEqual({ '/login': `${rival.ns}/login` });
    await routes.delete(`${rival.ns}/login` as Key);
  });

  it('gives the hosts a more specific allowedHostnames entry covers to its tenant, even from a wildcard tenant\'s Route that was there first', async () => {
    const domain = `${unique('d')}.example`;
    const wide = await tenantWith('wide', [`*.${domain}`]);
    await createRoute(wide.ns, 'shop', `shop.${domain}`);
    await createRoute(wide.ns, 'blog', `blog.${domain}`);
    await accepted(`${wide.ns}/shop`, 'True');
    await accepted(`${wide.ns}/blog`, 'True');

    const shop = await tenantWith('shop', [`shop.${domain}`]);
    const refused = await accepted(`${wide.ns}/shop`, 'False', 'HostConflict');
    expect(refused.message).toBe(`host shop.${domain} belongs to another tenant, whose allowedHostnames entry shop.${domain} is more specific than this tenant's; it serves every path of the host`);
    await eventually(async () => (Object.keys(await servedBy(`shop.${domain}`)).length === 0 ? true : undefined), { what: 'the wildcard tenant no longer serves shop' });
    await createRoute(shop.ns, 'web', `shop.${domain}`, '/api');
    await accepted(`${shop.ns}/web`, 'True');
    expect(await servedBy(`shop.${domain}`)).toEqual({ '/api': `${shop.ns}/web` });
    expect(findCondition((await routes.get(`${wide.ns}/blog` as Key))!.status!.conditions, 'Accepted')?.status).toBe('True');

    await eventually(async () => ((await hostnames(wide.name))?.reason === 'HostnamesOverlap' ? true : undefined), { what: 'wide reports the overlap' });
    expect((await hostnames(wide.name))!.message).toBe(`*.${domain} overlaps shop.${domain} of tenant ${shop.name}: shop.${domain} is more specific and takes the hosts it covers`);
    await eventually(async () => ((await hostnames(shop.name))?.reason === 'HostnamesOverlap' ? true : undefined), { what: 'shop reports the overlap' });

    // The specific entry goes: the wildcard tenant's Route serves again, the overlap is gone on both.
    await routes.delete(`${shop.ns}/web` as Key);
    await updateSpec(tenants, shop.name, (spec) => ({ ...spec, allowedHostnames: [] }));
    await accepted(`${wide.ns}/shop`, 'True');
    await eventually(async () => ((await hostnames(wide.name))?.status === 'True' ? true : undefined), { what: 'overlap cleared' });
    for (const name of ['shop', 'blog']) await routes.delete(`${wide.ns}/${name}` as Key);
  });

  it('gives a host that many tenants\' Routes ask for at once to exactly one tenant', async () => {
    const host = `${unique('race')}.example`;
    const racers = await Promise.all(Array.from({ length: 6 }, () => tenantWith('racer', [host])));
    await Promise.all(racers.map((r, i) => createRoute(r.ns, 'web', host, `/p${i}`)));
    const verdicts = await eventually(async () => {
      const all = await Promise.all(racers.map(async (r) => {
        const route = await routes.get(`${r.ns}/web` as Key);
        return route?.status?.observedGeneration === 1 ? findCondition(route.status.conditions, 'Accepted') : undefined;
      }));
      return all.every((c) => c !== undefined) ? all : undefined;
    }, { what: 'every racer decided' });
    const winners = racers.filter((_, i) => verdicts[i]!.status === 'True');
    expect(winners).toHaveLength(1);
    expect(verdicts.filter((c) => c!.reason === 'HostConflict')).toHaveLength(racers.length - 1);
    const served = Object.values(await servedBy(host));
    expect(served).toEqual([`${winners[0]!.ns}/web`]);
    for (const r of racers) await routes.delete(`${r.ns}/web` as Key);
  });

  it('writes the rate limit in force into the routing row and status.rateLimit: the Route\'s own, else its tenant\'s default, following changes of either', async () => {
    const host = `${unique('limited')}.example`;
    const tenant = await tenantWith('limited', [host]);
    await createRoute(tenant.ns, 'web', host);
    await accepted(`${tenant.ns}/web`, 'True');
    const limitOf = async () =>
      (await store.query<{ rateLimit: unknown }>({ name: 'test.routing_rate_limit', text: 'select rate_limit as "rateLimit" from platform.routing where host = $1' }, [host]))[0]?.rateLimit;
    const inForce = (want: unknown, status: unknown) =>
      eventually(async () => {
        const [row, route] = [await limitOf(), await routes.get(`${tenant.ns}/web` as Key)];
        return isDeepStrictEqual(row, want) && isDeepStrictEqual(route?.status?.rateLimit ?? null, status) ? true : undefined;
      }, { what: `rate limit ${JSON.stringify(want)} in force` });
    expect(await limitOf()).toBeNull();
    await updateSpec(tenants, tenant.name, (spec) => ({ ...spec, defaultRateLimit: { requestsPerSecond: 20 } }));
    await inForce({ burst: 20, requestsPerSecond: 20 }, { requestsPerSecond: 20, burst: 20, source: 'Tenant' });
    await updateSpec(routes, `${tenant.ns}/web`, (spec) => ({ ...spec, rateLimit: { requestsPerSecond: 500, burst: 50 } }));
    await inForce({ burst: 50, requestsPerSecond: 500 }, { requestsPerSecond: 500, burst: 50, source: 'Route' });
    await updateSpec(tenants, tenant.name, (spec) => ({ ...spec, defaultRateLimit: undefined }));
    await updateSpec(routes, `${tenant.ns}/web`, (spec) => ({ ...spec, rateLimit: undefined }));
    await inForce(null, null);
    await routes.delete(`${tenant.ns}/web` as Key);
  });
});
