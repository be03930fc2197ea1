/**
 * A controller for your own CRD with tend's framework alone — the Widget of
 * examples/widgets/widget-crd.yaml, no tend kind involved; docs/writing-a-controller.md walks
 * through it. A Widget needs `spec.size` in stock to be Ready. The controller keeps one row per
 * Widget in PostgreSQL (a fenced write), reads the stock there, says what it found in
 * `status.conditions`, is woken when someone changes the stock (LISTEN/NOTIFY), removes the row
 * before the Widget goes (a finalizer) and counts its writes (a metric on /metrics). Start it
 * once or ten times: the replicas share the Widgets through PostgreSQL, with no leader.
 *
 *   kubectl apply -f examples/widgets/widget-crd.yaml
 *   DATABASE_URL=postgres://…/widgets HEALTH_PORT=8081 npx tsx examples/custom-controller.ts
 *   kubectl create -f - <<<'{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"size":3}}'
 *   psql "$DATABASE_URL" -c "update widgets.inventory set stock = 5 where key = 'default/w1'"
 *   kubectl get widgets   # w1  3  5  True  InStock
 *
 * Environment: KUBECONFIG (or ~/.kube/config, or in-cluster), DATABASE_URL, HEALTH_PORT
 * (default 8081; 0 picks a free one), REPLICA (default widgets-HOST-PID).
 */
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { Counter } from 'prom-client';
import {
  Controller, KubeClient, Manager, Store, createLogger, done, frameworkMigrations, migrate, postgresSource, setCondition,
  withFinalizer, writeStatus, type Condition, type ConditionUpdate, type Key, type NamedQuery, type Reconciler, type Resource,
} from '../framework/index.js';

/** The Widget as the API server stores it. */
type Widget = Resource<{ size: number }, { observedGeneration?: number; stock?: number; conditions?: Condition[] }>;

const replica = process.env.REPLICA ?? `widgets-${hostname()}-${process.pid}`;
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://localhost/widgets';
const logger = createLogger({ replica });

// The database: the framework's tables, then the Widgets' own, each track in its own table.
const store = new Store({ connectionString: databaseUrl, logger });
const widgetMigrations = { folders: [fileURLToPath(new URL('./widgets/migrations/', import.meta.url))], schema: 'widgets' };
await migrate(store, { tracks: [frameworkMigrations, widgetMigrations] });

// The API server: a client for the Widget kind, and the manager that runs one replica.
const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
const widgets = new KubeClient<Widget>({ group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true }, kubeConfig, 'widget-controller');
const manager = new Manager({ logger, replica, store, healthPort: Number(process.env.HEALTH_PORT ?? 8081) });

// A metric of our own, served with the controller's on /metrics.
const inventoryWrites = new Counter({ name: 'widget_inventory_writes_total', help: 'Inventory rows this replica created, resized or removed.', registers: [manager.registry] });

const readInventory: NamedQuery = { name: 'widgets.read_inventory', text: 'select size, stock from widgets.inventory where key = $1' };
// Fenced ($3): refused with SQLSTATE TF001 when this replica no longer owns the key as it did when
// the reconcile began; the runtime then looks again. Unchanged, it writes nothing.
const upsertInventory: NamedQuery = {
  name: 'widgets.upsert_inventory',
  text: `insert into widgets.inventory (key, size) select $1, $2 where tend.fenced($3::bigint)
         on conflict (key) do update set size = excluded.size where inventory.size <> excluded.size
         returning key`,
};
const deleteInventory: NamedQuery = { name: 'widgets.delete_inventory', text: 'delete from widgets.inventory where key = $1 and tend.fenced($2::bigint) returning key' };
const inventoryKeys: NamedQuery = { name: 'widgets.inventory_keys', text: 'select key from widgets.inventory' };

/** The Ready condition for what is in stock. */
function readiness(stock: number, size: number): ConditionUpdate {
  const message = `${stock} in stock, ${size} needed`;
  return stock >= size ? { type: 'Ready', status: 'True', reason: 'InStock', message } : { type: 'Ready', status: 'False', reason: 'OutOfStock', message };
}

/** Keeps the Widget's inventory row and its status in line with its spec and its stock. */
const reconcile: Reconciler<Widget> = async (ctx, widget) =>
  withFinalizer(widgets, widget, 'example.com/inventory', {
    apply: async (current) => {
      const size = current.spec!.size;
      const generation = current.metadata.generation ?? 0;
      const [row] = await store.query<{ size: number; stock: number }>(readInventory, [ctx.key]);
      if (row?.size !== size && (await store.query(upsertInventory, [ctx.key, size, String(ctx.fence)])).length > 0) inventoryWrites.inc();
      const stock = row?.stock ?? 0;
      const { conditions } = setCondition(current.status?.conditions, readiness(stock, size), { now: ctx.now(), generation });
      // Writes only when something differs, carrying the resourceVersion read: a stale replica conflicts.
      await writeStatus(widgets, current, { observedGeneration: generation, stock, conditions });
      return done();
    },
    // Runs while the Widget is being deleted; the finalizer comes off once it returns 'removed'.
    cleanup: async () => {
      if ((await store.query(deleteInventory, [ctx.key, String(ctx.fence)])).length > 0) inventoryWrites.inc();
      return 'removed';
    },
  });

// Stock changes in the database wake the Widget they are about; after each (re)connect every
// Widget with a row is looked at, since notifications sent while not listening are lost.
const stockChanges = postgresSource({
  name: 'widget-stock',
  connectionString: databaseUrl,
  channel: 'widget_stock',
  map: (payload) => [payload as Key],
  resync: async () => (await store.query<{ key: Key }>(inventoryKeys)).map((r) => r.key),
  logger,
});

manager.add(
  new Controller<Widget>({
    name: 'widget',
    informer: manager.informer(widgets),
    reconcile,
    watches: [stockChanges],
    logger,
    ownership: manager.ownership,
    metrics: manager.metrics,
    ...(manager.journal ? { onReconciled: manager.journal.record } : {}),
  }),
);

const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());
await manager.start(stop.signal); // drains, leaves the member list, closes the pool
