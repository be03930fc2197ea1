import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, KubeClient, keyOfObject, type Resource, type ResourceType } from '../../../../framework/client/index.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { done, requeueAfter, type Key, type Reconciler } from '../../../../framework/reconcile/index.js';
import { Controller } from '../../../../framework/runtime/controller.js';
import { Informer, byNamespace } from '../../../../framework/source/index.js';
import { installCrds } from '../../../env/crds.js';
import { freshNamespace, kubeConfig, testEnv } from '../../../env/context.js';
import { REPO_ROOT } from '../../../env/environment.js';
import { eventually } from '../../../env/eventually.js';

type Widget = Resource<{ size?: number }, { seenSize?: number; observedGeneration?: number }>;
const widgetType: ResourceType = { group: 'test.tend.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };

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

let client: KubeClient<Widget>;
let ns: string;
let stop = new AbortController();
let running: Promise<void>[] = [];

beforeAll(async () => {
  await installCrds(testEnv().kubeconfigPath, join(REPO_ROOT, 'test/fixtures/crds'));
  client = new KubeClient<Widget>(widgetType, kubeConfig());
  ns = await freshNamespace('ctrl');
});

// Each test's controllers stop after it, so no test sees another's reconciler at work.
afterEach(async () => {
  stop.abort();
  await Promise.all(running);
  stop = new AbortController();
  running = [];
});

/** Starts a controller over widgets of this test's namespace with `reconcile`; counts runs per key. */
function startController(name: string, reconcile: Reconciler<Widget>, extra: { resyncMs?: number } = {}) {
  const informer = new Informer(client, { indexers: { namespace: byNamespace }, logger });
  const runs = new Map<Key, number>();
  const controller = new Controller<Widget>({
    name,
    informer,
    logger,
    ...extra,
    reconcile: async (ctx, obj) => {
      runs.set(ctx.key, (runs.get(ctx.key) ?? 0) + 1);
      return reconcile(ctx, obj);
    },
  });
  informer.start(stop.signal);
  running.push(controller.start(stop.signal));
  return { informer, controller, runs };
}

/** Mirrors spec.size into status, writing only when it differs (steady state is free). */
const mirror: Reconciler<Widget> = async (ctx, obj) => {
  const want = { seenSize: obj.spec?.size ?? 0, observedGeneration: obj.metadata.generation ?? 0 };
  if (obj.status?.seenSize === want.seenSize && obj.status?.observedGeneration === want.observedGeneration) return done();
  await client.patchStatus(ctx.key, want, obj.metadata.resourceVersion!);
  return done();
};

const widget = (name: string, size: number): Widget => ({
  apiVersion: 'test.tend.dev/v1',
  kind: 'Widget',
  metadata: { name, namespace: ns },
  spec: { size },
});

describe('Controller against a real API server', () => {
  it('reconciles a new object once, and a status-only change does not trigger another run', async () => {
    const { runs } = startController('mirror', mirror);
    const created = await client.create(widget('a', 3));
    const key = keyOfObject(created);
    const reconciled = await eventually(async () => {
      const w = await client.get(key);
      return w?.status?.seenSize === 3 ? w : undefined;
    }, { what: 'status.seenSize = 3' });
    expect(reconciled.status?.observedGeneration).toBe(1);
    // Our own status patch came back as a watch event; it must not have queued the key again.
    await client.create(widget('barrier', 1));
    await eventually(async () => ((await client.get(`${ns}/barrier` as Key))?.status?.seenSize === 1 ? true : undefined));
    expect(runs.get(key)).toBe(1);
  });

  it('reconciles again when the spec changes, and records the new generation', async () => {
    startController('mirror-update', mirror);
    const created = await client.create(widget('b', 1));
    const key = keyOfObject(created);
    await eventually(async () => ((await client.get(key))?.status?.seenSize === 1 ? true : undefined));
    const current = (await client.get(key))!;
    await client.update({ ...current, spec: { size: 7 } });
    const updated = await eventually(async () => {
      const w = await client.get(key);
      return w?.status?.seenSize === 7 ? w : undefined;
    }, { what: 'status.seenSize = 7' });
    expect(updated.status?.observedGeneration).toBe(2);
  });

  it('retries a failing reconcile with backoff until it succeeds', async () => {
    let attempts = 0;
    const { runs } = startController('flaky', async (ctx, obj) => {
      if (obj.metadata.namespace !== ns || obj.metadata.name !== 'c') return done();
      attempts++;
      if (attempts <= 3) throw new Error(`attempt ${attempts} fails`);
      return mirror(ctx, obj);
    });
    const key = keyOfObject(await client.create(widget('c', 5)));
    await eventually(async () => ((await client.get(key))?.status?.seenSize === 5 ? true : undefined), { what: 'eventual success' });
    expect(attempts).toBe(4);
    expect(runs.get(key)).toBe(4);
    const failures = logLines.filter((l) => l.controller === 'flaky' && l.msg === 'reconcile failed; retrying with backoff');
    expect(failures.map((l) => l.failures)).toEqual([1, 2, 3]);
    expect(failures.every((l) => l.key === key && typeof l.reconcileId === 'string' && l.generation === 1)).toBe(true);
  });

  it('treats a write conflict as a quick retry, not an error', async () => {
    let conflicts = 0;
    startController('conflicted', async (ctx, obj) => {
      if (obj.metadata.namespace !== ns || obj.metadata.name !== 'd') return done();
      // The first attempt writes with a version that is already stale.
      const version = conflicts === 0 ? '1' : obj.metadata.resourceVersion!;
      try {
        await client.patchStatus(ctx.key, { seenSize: obj.spec?.size ?? 0 }, version);
      } catch (err) {
        if (err instanceof ConflictError) conflicts++;
        throw err;
      }
      return done();
    });
    const key = keyOfObject(await client.create(widget('d', 2)));
    await eventually(async () => ((await client.get(key))?.status?.seenSize === 2 ? true : undefined));
    expect(conflicts).toBe(1);
    const lines = logLines.filter((l) => l.controller === 'conflicted' && l.key === key);
    expect(lines.some((l) => l.level === 50)).toBe(false);
    expect(lines.some((l) => l.msg === 'conflict; re-reading soon')).toBe(true);
  });

  it('treats "not found" for an object deleted meanwhile as the end, not an error', async () => {
    let runs = 0;
    startController('vanishing', async (ctx, obj) => {
      if (obj.metadata.namespace !== ns || obj.metadata.name !== 'v') return done();
      runs++;
      // Gone while we work (as when a finalizer comes off): the status write finds nothing.
      await client.delete(ctx.key);
      await client.patchStatus(ctx.key, { seenSize: 1 }, obj.metadata.resourceVersion!);
      return done();
    });
    const key = keyOfObject(await client.create(widget('v', 1)));
    await eventually(() => (logLines.some((l) => l.controller === 'vanishing' && l.key === key && l.msg === 'object gone meanwhile') ? true : undefined), { what: 'the reconcile to end quietly' });
    const lines = logLines.filter((l) => l.controller === 'vanishing' && l.key === key);
    expect(lines.some((l) => l.level === 50)).toBe(false);
    expect(runs).toBe(1);
  });

  it('looks at a key again after requeueAfter', async () => {
    const { runs } = startController('poller', async (_ctx, obj) =>
      obj.metadata.namespace === ns && obj.metadata.name === 'e' ? requeueAfter(50) : done(),
    );
    const key = keyOfObject(await client.create(widget('e', 1)));
    await eventually(() => ((runs.get(key) ?? 0) >= 3 ? true : undefined), { what: 'three runs' });
  });

  it('keeps the cache current: deletes leave it, the namespace index finds the rest', async () => {
    const { informer } = startController('indexed', async () => done());
    await client.create(widget('f', 1));
    await client.create(widget('g', 1));
    await eventually(() => (informer.cache.byIndex('namespace', ns).some((w) => w.metadata.name === 'g') ? true : undefined));
    await client.delete(`${ns}/f` as Key);
    await eventually(() => (informer.cache.get(`${ns}/f` as Key) === undefined ? true : undefined), { what: 'f gone from cache' });
    expect(informer.cache.byIndex('namespace', ns).map((w) => w.metadata.name)).toContain('g');
  });
});
