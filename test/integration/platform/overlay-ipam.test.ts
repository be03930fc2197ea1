/**
 * Overlay IPAM in PostgreSQL (migrations/000025_platform_overlay_ipam.sql, issue 20 §1): a /64 per
 * node and an address per instance, allocated in the transaction that creates the holder. Many
 * connections creating nodes and instances at once never give one address two holders; an
 * allocation goes with its holder; the SQL arithmetic is overlay/addresses.ts's; a database
 * migrated before IPAM existed gets allocations for what it holds.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Store, frameworkMigrations, migrate, type NamedQuery } from '../../../framework/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { contains, formatPrefix, nodePrefix, parseIpv6, parsePrefix } from '../../../overlay/addresses.js';
import { FreshDatabases } from '../../env/fresh-database.js';

const databases = new FreshDatabases('ipam');
const stores: Store[] = [];
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await databases.dropAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function migratedStore(poolSize = 4): Promise<Store> {
  const store = new Store({ connectionString: await databases.create(), poolSize });
  stores.push(store);
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  return store;
}

const insertNode: NamedQuery = {
  name: 'test.insert_node',
  text: `insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu) values ($1, $1, 1, 'ready', 2147483648, 2000)`,
};
const insertInstance: NamedQuery = {
  name: 'test.insert_instance',
  text: `insert into platform.instances (id, app, tenant, revision, node, memory, cpu, spec) values ($1, 'acme/web', 'acme', 'r1', $2, 67108864, 100, '{}')`,
};
const clusterPrefix: NamedQuery = { name: 'test.cluster_prefix', text: 'select prefix::text as prefix from platform.overlay_network' };
const nodePrefixes: NamedQuery = { name: 'test.node_prefixes', text: 'select node, node_index, prefix::text as prefix from platform.node_prefixes order by node_index' };
const instanceAddresses: NamedQuery = {
  name: 'test.instance_addresses',
  text: `select a.instance, a.node, host(a.address) as address, p.prefix::text as prefix, a.address << p.prefix as inside
         from platform.instance_addresses a join platform.node_prefixes p on p.node = a.node order by a.instance`,
};

describe('overlay IPAM', () => {
  it('chooses a ULA /48 for the cluster when it migrates', async () => {
    const store = await migratedStore();
    const [row] = await store.query<{ prefix: string }>(clusterPrefix);
    const prefix = parsePrefix(row!.prefix);
    expect(prefix.length).toBe(48);
    expect(contains(parsePrefix('fd00::/8'), prefix.network)).toBe(true);
  });

  it('gives nodes and instances created at once by many connections each their own prefix and address, inside its node’s /64', async () => {
    const store = await migratedStore(16);
    const nodes = Array.from({ length: 24 }, (_, i) => `n${i}`);
    await Promise.all(nodes.map((node) => store.query(insertNode, [node])));
    const instances = Array.from({ length: 240 }, (_, i) => ({ id: `acme.web-r1-${String(i).padStart(6, '0')}`, node: nodes[i % nodes.length]! }));
    // Each insert its own transaction, 16 connections at once.
    await Promise.all(instances.map((i) => store.query(insertInstance, [i.id, i.node])));

    const cluster = parsePrefix((await store.query<{ prefix: string }>(clusterPrefix))[0]!.prefix);
    const prefixes = await store.query<{ node: string; node_index: number; prefix: string }>(nodePrefixes);
    expect(prefixes.map((p) => p.node).sort()).toEqual([...nodes].sort());
    expect(prefixes.map((p) => p.node_index)).toEqual(nodes.map((_, i) => i + 1));
    for (const p of prefixes) expect(p.prefix).toBe(formatPrefix(nodePrefix(cluster, p.node_index)));

    const addresses = await store.query<{ instance: string; node: string; address: string; prefix: string; inside: boolean }>(instanceAddresses);
    expect(addresses.map((a) => a.instance)).toEqual(instances.map((i) => i.id).sort());
    expect(new Set(addresses.map((a) => parseIpv6(a.address))).size).toBe(instances.length);
    for (const a of addresses) {
      expect(a.node).toBe(instances.find((i) => i.id === a.instance)!.node);
      expect(a.inside).toBe(true);
      expect(contains(parsePrefix(a.prefix), parseIpv6(a.address))).toBe(true);
    }
  });

  it('lets an allocation go with its holder, reuses a freed node number, and never an instance address', async () => {
    const store = await migratedStore();
    for (const node of ['a', 'b', 'c']) await store.query(insertNode, [node]);
    await store.query(insertInstance, ['acme.web-r1-000001', 'b']);
    const [first] = await store.query<{ address: string }>(instanceAddresses);

    await store.query({ name: 'test.delete_instance', text: 'delete from platform.instances where id = $1' }, ['acme.web-r1-000001']);
    expect(await store.query(instanceAddresses)).toEqual([]);
    await store.query({ name: 'test.delete_node', text: 'delete from platform.nodes where name = $1' }, ['b']);
    expect((await store.query<{ node: string }>(nodePrefixes)).map((p) => p.node)).toEqual(['a', 'c']);

    await store.query(insertNode, ['d']);
    await store.query(insertInstance, ['acme.web-r1-000002', 'd']);
    const prefixes = await store.query<{ node: string; node_index: number }>(nodePrefixes);
    expect(prefixes.map((p) => [p.node, p.node_index])).toEqual([['a', 1], ['d', 2], ['c', 3]]);
    // d has b's old /64; its instance still gets an address b's never had.
    const [second] = await store.query<{ address: string }>(instanceAddresses);
    expect(second!.address).not.toBe(first!.address);
  });

  it('allocates for the nodes and instances of a database migrated before IPAM existed', async () => {
    const url = await databases.create();
    const store = new Store({ connectionString: url, poolSize: 2 });
    stores.push(store);
    const folder = fileURLToPath(new URL('../../../migrations/', import.meta.url));
    const before = mkdtempSync(join(tmpdir(), 'tend-ipam-'));
    dirs.push(before);
    // Every migration before 000025: what such a database had.
    cpSync(folder, before, { recursive: true, filter: (src) => !/index\.ts$/.test(src) && !(Number(/\/(\d{6})_[^/]*$/.exec(src)?.[1] ?? 0) >= 25) });
    await migrate(store, { tracks: [frameworkMigrations, { ...platformMigrations, folders: [before] }] });
    for (const node of ['old-1', 'old-2']) await store.query(insertNode, [node]);
    await store.query(insertInstance, ['acme.web-r1-000001', 'old-2']);

    await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });

    expect((await store.query<{ node: string; node_index: number }>(nodePrefixes)).map((p) => [p.node, p.node_index])).toEqual([['old-1', 1], ['old-2', 2]]);
    expect((await store.query<{ instance: string; inside: boolean }>(instanceAddresses)).map((a) => [a.instance, a.inside])).toEqual([['acme.web-r1-000001', true]]);
  });
});
