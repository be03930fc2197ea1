import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, GoneError, type Resource, type ResourceClient, type ResourceType, type WatchEvent } from '../../../../framework/client/index.js';
import { PostgresClient, mergePatch, pruneResourceEvents } from '../../../../framework/client/postgres-client.js';
import { resourceEventPruner } from '../../../../framework/client/resource-event-pruner.js';
import { createLogger } from '../../../../framework/log/logger.js';
import type { Key } from '../../../../framework/reconcile/index.js';
import { Informer } from '../../../../framework/source/informer.js';
import { Store, frameworkMigrationsFolder, migrate } from '../../../../framework/store/index.js';
import { FakeClock } from '../../../../framework/testing/fake-clock.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';

type Widget = Resource<{ size: number; tags?: string[] }, Record<string, unknown>>;

const logger = createLogger({ level: 'silent' });
const databases = new FreshDatabases('pgclient');
const widgets: ResourceType = { group: 'test.tend.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
const gadgets: ResourceType = { group: 'test.tend.dev', version: 'v1', kind: 'Gadget', plural: 'gadgets', namespaced: false };

let url: string;
let store: Store;

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { folders: [frameworkMigrationsFolder] });
});

afterAll(async () => {
  await store.close();
  await databases.dropAll();
});

function client<T extends Resource = Widget>(type = widgets): PostgresClient<T> {
  return new PostgresClient<T>(type, store, { listenUrl: url, pollIntervalMs: 200 });
}

function widget(namespace: string, name: string, size = 1, extra: Partial<Widget['metadata']> = {}): Widget {
  return { apiVersion: 'test.tend.dev/v1', kind: 'Widget', metadata: { namespace, name, ...extra }, spec: { size } };
}

/** Collects a watch's events until stopped; `stop` resolves when the watch has returned. */
function collect<T extends Resource>(c: PostgresClient<T>, resourceVersion: string) {
  const events: WatchEvent<T>[] = [];
  const controller = new AbortController();
  const done = c.watch(resourceVersion, (e) => events.push(e), controller.signal);
  return {
    events,
    changes: () => events.flatMap((e) => (e.type === 'BOOKMARK' ? [] : [`${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`])),
    async stop() {
      controller.abort();
      await done;
    },
    done,
  };
}

describe('mergePatch (RFC 7386)', () => {
  it('merges objects, deletes on null, replaces arrays and scalars', () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1, 2] }, { a: null, b: { c: null, x: 4 }, e: [3] })).toEqual({ b: { d: 3, x: 4 }, e: [3] });
    expect(mergePatch(null, { a: { b: null, c: 1 } })).toEqual({ a: { c: 1 } });
    expect(mergePatch({ a: 1 }, 'x')).toBe('x');
  });
});

describe('PostgresClient (real PostgreSQL)', () => {
  it('creates, gets and lists; a second create of the name is 409 AlreadyExists', async () => {
    const c = client();
    const created = await c.create({ ...widget('ns1', 'a', 3, { labels: { team: 'x' } }), status: { ignored: true } });
    expect(created.status).toBeUndefined();
    expect(created.metadata).toMatchObject({ namespace: 'ns1', name: 'a', generation: 1, labels: { team: 'x' } });
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(created.apiVersion).toBe('test.tend.dev/v1');
    await c.create(widget('ns2', 'b'));
    expect(await c.get('ns1/a' as Key)).toEqual(created);
    expect(await c.get('ns1/missing' as Key)).toBeUndefined();
    const list = await c.list();
    expect(list.items.map((w) => `${w.metadata.namespace}/${w.metadata.name}`)).toEqual(['ns1/a', 'ns2/b']);
    expect(BigInt(list.resourceVersion)).toBeGreaterThanOrEqual(BigInt(list.items[1]!.metadata.resourceVersion!));
    const duplicate = await c.create(widget('ns1', 'a')).catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(ConflictError);
    expect(duplicate).toMatchObject({ code: 409, reason: 'AlreadyExists' });
    // Cluster-scoped kinds share the version sequence and keep to their own rows.
    const g = client<Resource>(gadgets);
    const gadget = await g.create({ apiVersion: 'test.tend.dev/v1', kind: 'Gadget', metadata: { name: 'g' }, spec: {} });
    expect(BigInt(gadget.metadata.resourceVersion!)).toBeGreaterThan(BigInt(list.resourceVersion));
    expect((await g.list()).items.map((o) => o.metadata.name)).toEqual(['g']);
    expect(await g.get('g' as Key)).toEqual(gadget);
  });

  it('update bumps generation only when spec changes, leaves status alone, and refuses a stale version', async () => {
    const c = client();
    const v1 = await c.create(widget('up', 'w', 1));
    const withStatus = await c.patchStatus('up/w' as Key, { phase: 'Ready' }, v1.metadata.resourceVersion!);
    const labelled = await c.update({ ...withStatus, metadata: { ...withStatus.metadata, labels: { a: 'b' } }, status: { phase: 'ignored' } });
    expect(labelled.metadata.generation).toBe(1);
    expect(labelled.status).toEqual({ phase: 'Ready' });
    expect(BigInt(labelled.metadata.resourceVersion!)).toBeGreaterThan(BigInt(withStatus.metadata.resourceVersion!));
    const resized = await c.update({ ...labelled, spec: { size: 2 } });
    expect(resized.metadata.generation).toBe(2);
    expect(resized.spec).toEqual({ size: 2 });
    // Nothing changed: no write, same version.
    expect((await c.update(resized)).metadata.resourceVersion).toBe(resized.metadata.resourceVersion);
    await expect(c.update({ ...labelled, spec: { size: 9 } })).rejects.toBeInstanceOf(ConflictError);
    await expect(c.patchStatus('up/w' as Key, { phase: 'x' }, labelled.metadata.resourceVersion!)).rejects.toMatchObject({ code: 409 });
    expect((await c.get('up/w' as Key))?.spec).toEqual({ size: 2 });
  });

  it('patchStatus merges, deletes keys patched to null, replaces arrays, keeps generation', async () => {
    const c = client();
    const created = await c.create(widget('st', 'w'));
    const first = await c.patchStatus('st/w' as Key, { phase: 'Pending', conditions: [{ type: 'A' }], detail: { x: 1, y: 2 } }, created.metadata.resourceVersion!);
    const second = await c.patchStatus('st/w' as Key, { phase: null, conditions: [{ type: 'B' }], detail: { x: null, z: 3 } }, first.metadata.resourceVersion!);
    expect(second.status).toEqual({ conditions: [{ type: 'B' }], detail: { y: 2, z: 3 } });
    expect(second.metadata.generation).toBe(1);
    expect(second.spec).toEqual({ size: 1 });
  });

  it('delete with finalizers sets deletionTimestamp; removing the last finalizer deletes; deleting again is fine', async () => {
    const c = client();
    await c.create(widget('fin', 'w', 1, { finalizers: ['tend.dev/a', 'tend.dev/b'] }));
    await c.delete('fin/w' as Key);
    const terminating = (await c.get('fin/w' as Key))!;
    expect(terminating.metadata.deletionTimestamp).toBeDefined();
    await c.delete('fin/w' as Key);
    expect((await c.get('fin/w' as Key))!.metadata.resourceVersion).toBe(terminating.metadata.resourceVersion);
    const one = await c.update({ ...terminating, metadata: { ...terminating.metadata, finalizers: ['tend.dev/b'] } });
    expect(one.metadata.finalizers).toEqual(['tend.dev/b']);
    await c.update({ ...one, metadata: { ...one.metadata, finalizers: [] } });
    expect(await c.get('fin/w' as Key)).toBeUndefined();
    await c.delete('fin/w' as Key);
    await c.create(widget('fin', 'plain'));
    await c.delete('fin/plain' as Key);
    expect(await c.get('fin/plain' as Key)).toBeUndefined();
  });

  it("a watch from list's resourceVersion sees ADDED, MODIFIED, DELETED in order, and only its own kind", async () => {
    const c = client();
    const { resourceVersion } = await c.list();
    const watch = collect(c, resourceVersion);
    const a = await c.create(widget('w', 'a'));
    await client<Resource>(gadgets).create({ apiVersion: 'test.tend.dev/v1', kind: 'Gadget', metadata: { name: 'other' } });
    const a2 = await c.update({ ...a, spec: { size: 5 } });
    const a3 = await c.patchStatus('w/a' as Key, { ok: true }, a2.metadata.resourceVersion!);
    await c.delete('w/a' as Key);
    await eventually(() => expect(watch.changes()).toHaveLength(4));
    const [added, modified, patched, deleted] = watch.changes();
    expect(added).toBe(`ADDED a ${a.metadata.resourceVersion}`);
    expect(modified).toBe(`MODIFIED a ${a2.metadata.resourceVersion}`);
    expect(patched).toBe(`MODIFIED a ${a3.metadata.resourceVersion}`);
    expect(deleted).toMatch(/^DELETED a \d+$/);
    expect(BigInt(deleted!.split(' ')[2]!)).toBeGreaterThan(BigInt(a3.metadata.resourceVersion!));
    const last = watch.events.at(-1)!;
    expect(last.type === 'DELETED' && last.object.status).toEqual({ ok: true });
    await watch.stop();
    // Replaying from the same version gives the same events.
    const replay = collect(c, resourceVersion);
    await eventually(() => expect(replay.changes()).toEqual(watch.changes()));
    await replay.stop();
  });

  it('the framework Informer syncs from a PostgresClient and follows creates, updates and deletes', async () => {
    const c = client();
    await c.create(widget('inf', 'before'));
    const informer = new Informer(c, { logger });
    const controller = new AbortController();
    informer.start(controller.signal);
    await informer.synced();
    expect(informer.cache.get('inf/before' as Key)).toBeDefined();
    const created = await c.create(widget('inf', 'after'));
    await eventually(() => expect(informer.cache.get('inf/after' as Key)?.metadata.resourceVersion).toBe(created.metadata.resourceVersion));
    const updated = await c.update({ ...created, spec: { size: 7 } });
    await eventually(() => expect(informer.cache.get('inf/after' as Key)?.spec).toEqual(updated.spec));
    await c.delete('inf/before' as Key);
    await eventually(() => expect(informer.cache.get('inf/before' as Key)).toBeUndefined());
    expect(informer.listCount).toBe(1);
    controller.abort();
  });

  it('a watch from a version older than the pruned events fails with GoneError; the Informer re-lists', async () => {
    const c = client();
    // The informer's first watch waits for `release`, so its list's version is pruned meanwhile.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const gated: ResourceClient<Widget> = {
      type: c.type,
      list: () => c.list(),
      watch: async (rv, onEvent, signal) => {
        await gate;
        return c.watch(rv, onEvent, signal);
      },
      get: (key) => c.get(key),
      create: (obj) => c.create(obj),
      update: (obj) => c.update(obj),
      patchStatus: (key, status, rv) => c.patchStatus(key, status, rv),
      delete: (key) => c.delete(key),
    };
    const informer = new Informer(gated, { logger, maxRetryDelayMs: 100 });
    const controller = new AbortController();
    informer.start(controller.signal);
    await informer.synced();
    const old = informer.resourceVersion!;
    await c.create(widget('gone', 'a'));
    const b = await c.create(widget('gone', 'b'));
    expect(await pruneResourceEvents(store, 0)).toBeGreaterThan(0);
    const failed = await c.watch(old, () => {}, new AbortController().signal).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(GoneError);
    expect(failed).toMatchObject({ code: 410 });
    // From just below the newest version the watch still works (the newest event is never pruned).
    const watch = collect(c, String(BigInt(b.metadata.resourceVersion!) - 1n));
    await eventually(() => expect(watch.changes()).toEqual([`ADDED b ${b.metadata.resourceVersion}`]));
    await watch.stop();
    release();
    await eventually(() => expect(informer.cache.get('gone/b' as Key)).toBeDefined());
    expect(informer.cache.get('gone/a' as Key)).toBeDefined();
    expect(informer.listCount).toBe(2);
    controller.abort();
  });

  it('the resource event pruner keeps the watch log from growing, down to the newest event, until stopped', async () => {
    const c = client();
    for (const name of ['p1', 'p2', 'p3']) await c.create(widget('prune', name));
    const count = async () => (await store.query<{ n: number }>({ name: 'test.count_events', text: 'select count(*)::int as n from tend.resource_events' }))[0]!.n;
    expect(await count()).toBeGreaterThan(1);
    const stop = new AbortController();
    const running = resourceEventPruner({ store, logger, olderThanMs: 0, everyMs: 20 }).start(stop.signal);
    await eventually(async () => ((await count()) === 1 ? true : undefined), { what: 'every event but the newest pruned' });
    await c.create(widget('prune', 'p4'));
    await eventually(async () => ((await count()) === 1 ? true : undefined), { what: 'the next write pruned too' });
    stop.abort();
    await running;
  });

  it('a watch polls the event log on its injected clock when no notification comes', async () => {
    const clock = new FakeClock();
    const c = new PostgresClient<Widget>(widgets, store, { listenUrl: url, pollIntervalMs: 60_000, clock });
    const { resourceVersion } = await c.list();
    const watch = collect(c, resourceVersion);
    // Caught up: the watch waits for a notification or its poll timer, which is the clock's.
    await eventually(() => expect(clock.pending()).toBe(1));
    // An event that comes with no NOTIFY (one lost while LISTEN reconnected) is found by the poll.
    const object = widget('polled', 'p');
    await store.query({
      name: 'test.event_without_notify',
      text: `insert into tend.resource_events (resource_version, "group", plural, namespace, name, type, object)
             select nextval('tend.resource_version_seq'), $1, $2, 'polled', 'p', 'ADDED', $3::jsonb`,
    }, [widgets.group, widgets.plural, JSON.stringify(object)]);
    expect(watch.changes()).toEqual([]);
    clock.advance(60_000);
    await eventually(() => expect(watch.events.some((e) => e.type === 'ADDED' && e.object.metadata.name === 'p')).toBe(true));
    await watch.stop();
  });
});
