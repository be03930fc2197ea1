/**
 * examples/custom-controller.ts as its users run it (docs/writing-a-controller.md): two replicas,
 * each its own process, against the real API server and PostgreSQL, reconciling the Widgets of
 * examples/widgets/widget-crd.yaml. The test itself uses the framework's public entry only.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, Store, type Condition, type Key, type NamedQuery, type Resource, type ResourceType } from '../../../framework/index.js';
import { eventually } from '../../../framework/testing/index.js';
import { installCrds } from '../../env/crds.js';
import { freshNamespace, kubeConfig, testEnv } from '../../env/context.js';
import { REPO_ROOT } from '../../env/environment.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import { metric } from '../../env/http-request.js';
import { freePort } from '../../env/ports.js';
import { ServerProcess, waitForServer } from '../../env/server-process.js';

type Widget = Resource<{ size: number }, { observedGeneration?: number; stock?: number; conditions?: Condition[] }>;
const widgetType: ResourceType = { group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
const WIDGETS = 12;

const databases = new FreshDatabases('widgets');
const dir = mkdtempSync(join(tmpdir(), 'tend-widgets-'));
const replicas: { name: string; process: ServerProcess; metrics: string }[] = [];
let store: Store;
let widgets: KubeClient<Widget>;
let ns: string;

const inventory: NamedQuery = { name: 'test.widget_inventory', text: 'select key, size, stock from widgets.inventory order by key' };
const setStock: NamedQuery = { name: 'test.widget_set_stock', text: 'update widgets.inventory set stock = $2 where key = $1' };

async function startReplica(name: string, databaseUrl: string): Promise<void> {
  const port = await freePort();
  const process_ = ServerProcess.start({
    name,
    command: process.execPath,
    args: ['--import', pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href, join(REPO_ROOT, 'examples/custom-controller.ts')],
    cwd: REPO_ROOT,
    env: { ...process.env, KUBECONFIG: testEnv().kubeconfigPath, DATABASE_URL: databaseUrl, HEALTH_PORT: String(port), REPLICA: name },
    logFile: join(dir, `${name}.log`),
  });
  const metrics = `http://127.0.0.1:${port}/metrics`;
  replicas.push({ name, process: process_, metrics });
  await waitForServer(process_, 'ready', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok ? true : undefined));
}

const key = (name: string) => `${ns}/${name}` as Key;
const ready = (w: Widget | undefined) => w?.status?.conditions?.find((c) => c.type === 'Ready');
const settled = (w: Widget | undefined) => w !== undefined && w.status?.observedGeneration === w.metadata.generation;
const reconciles = (metrics: string) => metric(metrics, 'controller_runtime_reconcile_total', { controller: 'widget', result: 'success' });

beforeAll(async () => {
  await installCrds(testEnv().kubeconfigPath, join(REPO_ROOT, 'examples/widgets'));
  const url = await databases.create();
  store = new Store({ connectionString: url, poolSize: 2 });
  widgets = new KubeClient<Widget>(widgetType, kubeConfig(), 'widget-test');
  ns = await freshNamespace('widgets');
  // Both at once: they migrate concurrently, then share the Widgets.
  await Promise.all([startReplica('widgets-a', url), startReplica('widgets-b', url)]);
  // Ready is informers synced and the database reachable; sharing starts once both are members.
  await eventually(async () => {
    for (const r of replicas) expect(await metric(r.metrics, 'tend_members_active'), r.name).toBe(2);
    return true;
  });
  for (let i = 1; i <= WIDGETS; i++) {
    await widgets.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: `w${i}`, namespace: ns }, spec: { size: i } });
  }
});

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.process.stop()));
  await store?.close();
  await databases.dropAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('the custom controller example, two replicas', () => {
  it('gives every Widget its finalizer, an inventory row and Ready=False OutOfStock; both replicas reconcile, each row is written once', async () => {
    const all = await eventually(
      async () => {
        const list = (await widgets.list()).items.filter((w) => w.metadata.namespace === ns);
        expect(list).toHaveLength(WIDGETS);
        for (const w of list) {
          expect(settled(w), w.metadata.name).toBe(true);
          expect(ready(w)).toMatchObject({ status: 'False', reason: 'OutOfStock', message: `0 in stock, ${w.spec!.size} needed` });
        }
        return list;
      },
      { timeoutMs: 60_000, what: 'every Widget reconciled' },
    );
    for (const w of all) expect(w.metadata.finalizers).toEqual(['example.com/inventory']);
    const rows = await store.query<{ key: string; size: number; stock: number }>(inventory);
    expect(rows.map((r) => [r.key, r.size]).sort()).toEqual(all.map((w) => [key(w.metadata.name), w.spec!.size]).sort());
    // The replicas share the keys (rendezvous over both), and a row that is already right is not written again.
    for (const r of replicas) expect(await reconciles(r.metrics), r.name).toBeGreaterThan(0);
    const writes = await Promise.all(replicas.map((r) => metric(r.metrics, 'widget_inventory_writes_total')));
    expect(writes.reduce((a, b) => a + b)).toBe(WIDGETS);
  });

  it('turns a Widget Ready when its stock changes in PostgreSQL, woken by NOTIFY (the resync is 10 minutes away)', async () => {
    await store.query(setStock, [key('w5'), 7]);

    await eventually(async () => {
      const w = await widgets.get(key('w5'));
      expect(w?.status?.stock).toBe(7);
      expect(ready(w)).toMatchObject({ status: 'True', reason: 'InStock', message: '7 in stock, 5 needed' });
      return true;
    });
  });

  it('removes the inventory row of a deleted Widget before the Widget goes (its finalizer)', async () => {
    await widgets.delete(key('w1'));

    await eventually(async () => {
      expect(await widgets.get(key('w1'))).toBeUndefined();
      expect((await store.query<{ key: string }>(inventory)).map((r) => r.key)).not.toContain(key('w1'));
      return true;
    });
  });

  it('when one replica stops, the other takes over its Widgets', async () => {
    const [a, b] = replicas;
    await a!.process.stop();
    const before = await reconciles(b!.metrics);
    const names = Array.from({ length: WIDGETS - 1 }, (_, i) => `w${i + 2}`);
    for (const name of names) {
      const w = (await widgets.get(key(name)))!;
      await widgets.update({ ...w, spec: { size: w.spec!.size + 100 } });
    }

    await eventually(
      async () => {
        for (const name of names) {
          const w = await widgets.get(key(name));
          expect(settled(w), name).toBe(true);
          expect(ready(w)?.message).toMatch(new RegExp(`, ${w!.spec!.size} needed$`));
        }
        const rows = await store.query<{ key: string; size: number }>(inventory);
        expect(rows.every((r) => r.size > 100)).toBe(true);
        return true;
      },
      { timeoutMs: 30_000, what: 'every Widget reconciled by the remaining replica' },
    );
    expect(await reconciles(b!.metrics)).toBeGreaterThanOrEqual(before + names.length);
  });
});
