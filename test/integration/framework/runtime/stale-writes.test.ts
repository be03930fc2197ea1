/**
 * Writes to the resource server carry the resourceVersion their reconcile read (issue 14 §2): a
 * reconcile whose read went stale — another writer changed the object meanwhile — gets 409 on its
 * status and finalizer writes, and the runtime's requeue converges from a fresh read, keeping the
 * other writer's change instead of overwriting it. On the real API server, and on the
 * PostgreSQL-backed client that stands in for it in standalone mode.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, ConflictError, KubeClient, keyOfObject, type Resource, type ResourceClient, type ResourceType } from '../../../../framework/client/index.js';
import { PostgresClient } from '../../../../framework/client/postgres-client.js';
import { findCondition, setCondition, type Condition } from '../../../../framework/conditions/index.js';
import { withFinalizer } from '../../../../framework/finalizers/with-finalizer.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { done, type Key, type Reconciler } from '../../../../framework/reconcile/index.js';
import { Controller } from '../../../../framework/runtime/controller.js';
import { Informer } from '../../../../framework/source/index.js';
import { writeStatus } from '../../../../framework/status/write-status.js';
import { Store, frameworkMigrationsFolder, migrate } from '../../../../framework/store/index.js';
import { installCrds } from '../../../env/crds.js';
import { freshNamespace, kubeConfig, testEnv } from '../../../env/context.js';
import { REPO_ROOT } from '../../../env/environment.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';

type Widget = Resource<{ size?: number }, { conditions?: Condition[] }>;
const widgetType: ResourceType = { group: 'test.tend.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
const FINALIZER = 'test.tend.dev/cleanup';
const OTHER = 'other.example/cleanup';

const logLines: Record<string, unknown>[] = [];
const logger = createLogger({
  level: 'debug',
  destination: new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).trim().split('\n')) logLines.push(JSON.parse(line));
      cb();
    },
  }),
});
const databases = new FreshDatabases('stale_writes');
let store: Store | undefined;
let stop = new AbortController();
let running: Promise<void>[] = [];

afterEach(async () => {
  stop.abort();
  await Promise.all(running);
  stop = new AbortController();
  running = [];
});

afterAll(async () => {
  await store?.close();
  await databases.dropAll();
});

/** `client`, counting the writes the server refused as stale. */
function counting(client: ResourceClient<Widget>): { client: ResourceClient<Widget>; conflicts: string[] } {
  const conflicts: string[] = [];
  const refused = async <R>(what: string, write: () => Promise<R>): Promise<R> => {
    try {
      return await write();
    } catch (err) {
      if (err instanceof ConflictError) conflicts.push(what);
      throw err;
    }
  };
  return {
    conflicts,
    client: {
      type: client.type,
      list: (signal) => client.list(signal),
      watch: (rv, onEvent, signal) => client.watch(rv, onEvent, signal),
      get: (key) => client.get(key),
      create: (obj) => client.create(obj),
      update: (obj) => refused(`update ${keyOfObject(obj)}`, () => client.update(obj)),
      patchStatus: (key, status, rv) => refused(`status ${key}`, () => client.patchStatus(key, status, rv)),
      delete: (key) => client.delete(key),
    },
  };
}

/**
 * Runs `reconcile` for the one object `name` in a controller of its own. The first run of each
 * key calls `meanwhile` before writing: another writer changes the object under the read it got.
 */
function start(client: ResourceClient<Widget>, name: string, meanwhile: (key: Key) => Promise<void>, reconcile: Reconciler<Widget>): { runs: () => number } {
  let runs = 0;
  const informer = new Informer(client, { logger });
  const controller = new Controller<Widget>({
    name,
    informer,
    logger,
    reconcile: async (ctx, obj) => {
      if (obj.metadata.name !== name) return done();
      if (runs++ === 0) await meanwhile(ctx.key);
      return reconcile(ctx, obj);
    },
  });
  informer.start(stop.signal);
  running.push(controller.start(stop.signal));
  return { runs: () => runs };
}

const widget = (namespace: string, name: string, extra: Partial<Widget['metadata']> = {}): Widget => ({
  apiVersion: 'test.tend.dev/v1',
  kind: 'Widget',
  metadata: { name, namespace, ...extra },
  spec: { size: 1 },
});

interface Backend {
  readonly name: string;
  setup(): Promise<{ client: ResourceClient<Widget>; namespace: string; labels: Record<string, string> }>;
}

const backends: Backend[] = [
  {
    name: 'the Kubernetes API server',
    async setup() {
      await installCrds(testEnv().kubeconfigPath, join(REPO_ROOT, 'test/fixtures/crds'));
      const label = `stale-${randomBytes(4).toString('hex')}`;
      return {
        client: new KubeClient<Widget>(widgetType, kubeConfig(), 'stale-test', { labelSelector: `stale=${label}` }),
        namespace: await freshNamespace('stale'),
        labels: { stale: label },
      };
    },
  },
  {
    name: 'the PostgreSQL resource store',
    async setup() {
      const url = await databases.create();
      store = new Store({ connectionString: url, logger: createLogger({ level: 'silent' }) });
      await migrate(store, { folders: [frameworkMigrationsFolder] });
      return { client: new PostgresClient<Widget>(widgetType, store, { listenUrl: url, pollIntervalMs: 200 }), namespace: 'stale', labels: {} };
    },
  },
];

describe.each(backends)('writes from a stale read, on $name', (backend) => {
  let server: ResourceClient<Widget>;
  let namespace: string;
  let labels: Record<string, string>;

  beforeAll(async () => {
    ({ client: server, namespace, labels } = await backend.setup());
  });

  const create = (name: string, extra: Partial<Widget['metadata']> = {}) => server.create(widget(namespace, name, { labels, ...extra }));
  /** What the other writer does: one change, from a fresh read, retried on its own conflicts. */
  const change = async (key: Key, fn: (w: Widget) => Widget) => {
    for (;;) {
      try {
        return await server.update(fn((await server.get(key))!));
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
  };

  it('a status write gets 409 and the retry keeps the condition another writer set', async () => {
    const { client, conflicts } = counting(server);
    const mine = { type: 'Mine', status: 'True', reason: 'Done', message: '' } as const;
    const theirs = { type: 'Theirs', status: 'True', reason: 'Set', message: '' };
    start(client, 'status', async (key) => {
      const current = (await server.get(key))!;
      await server.patchStatus(key, { conditions: [{ ...theirs, lastTransitionTime: new Date().toISOString() }] }, current.metadata.resourceVersion!);
    }, async (ctx, obj) => {
      // The conditions array is replaced whole by a merge patch: from a stale read, theirs would go.
      const { conditions } = setCondition(obj.status?.conditions, mine, { now: ctx.now() });
      await writeStatus(client, obj, { conditions });
      return done();
    });
    const key = keyOfObject(await create('status'));
    const final = await eventually(async () => {
      const w = await server.get(key);
      return findCondition(w?.status?.conditions, 'Mine') ? w : undefined;
    }, { what: 'our condition written' });
    expect(findCondition(final!.status?.conditions, 'Theirs')?.status).toBe('True');
    expect(conflicts).toEqual([`status ${key}`]);
    expect(logLines.some((l) => l.controller === 'status' && l.key === key && l.msg === 'conflict; re-reading soon')).toBe(true);
  });

  it('adding a finalizer gets 409 and the retry keeps the label another writer added', async () => {
    const { client, conflicts } = counting(server);
    start(client, 'fin-add', (key) => change(key, (w) => ({ ...w, metadata: { ...w.metadata, labels: { ...w.metadata.labels, theirs: 'yes' } } })).then(() => {}),
      (_ctx, obj) => withFinalizer(client, obj, FINALIZER, { apply: async () => done(), cleanup: async () => 'removed' }));
    const key = keyOfObject(await create('fin-add'));
    const final = await eventually(async () => {
      const w = await server.get(key);
      return w?.metadata.finalizers?.includes(FINALIZER) ? w : undefined;
    }, { what: 'our finalizer added' });
    expect(final.metadata.labels?.theirs).toBe('yes');
    expect(conflicts[0]).toBe(`update ${key}`);
  });

  it('removing a finalizer gets 409 and does not bring back one another controller removed meanwhile', async () => {
    const { client, conflicts } = counting(server);
    const cleanups: string[] = [];
    const created = await create('fin-remove', { finalizers: [FINALIZER, OTHER] });
    const key = keyOfObject(created);
    await server.delete(key);
    start(client, 'fin-remove', (key) => change(key, (w) => ({ ...w, metadata: { ...w.metadata, finalizers: (w.metadata.finalizers ?? []).filter((f) => f !== OTHER) } })).then(() => {}),
      (_ctx, obj) => withFinalizer(client, obj, FINALIZER, { apply: async () => done(), cleanup: async () => (cleanups.push(obj.metadata.resourceVersion!), 'removed') }));
    // From the stale read, removing ours would have put OTHER back and kept the object forever.
    await eventually(async () => ((await server.get(key)) === undefined ? true : undefined), { what: 'the object gone once both finalizers are off' });
    expect(conflicts[0]).toBe(`update ${key}`);
    expect(cleanups.length).toBeGreaterThanOrEqual(2);
  });

  it('an update without the resourceVersion it read is refused, not applied blindly', async () => {
    const created = await create('no-version');
    const blind = { ...created, metadata: { ...created.metadata, resourceVersion: undefined, labels: { ...created.metadata.labels, blind: 'yes' } } } as Widget;
    const refused = await server.update(blind).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ code: 422 });
    expect((refused as Error).message).toMatch(/metadata\.resourceVersion.*must be specified for an update/);
    expect((await server.get(keyOfObject(created)))?.metadata.labels?.blind).toBeUndefined();
    await expect(writeStatus(server, { ...created, metadata: { ...created.metadata, resourceVersion: undefined } }, { conditions: [] as Condition[] } as never)).rejects.toThrow(/no metadata\.resourceVersion/);
  });
});
