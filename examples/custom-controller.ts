/**
 * A controller for your own CRD with tend's framework alone — no tend kinds involved. It uses the
 * Widget CRD of the framework's tests (test/fixtures/crds/widgets.yaml):
 *
 *   kubectl apply -f test/fixtures/crds/widgets.yaml
 *   DATABASE_URL=postgres://… npx tsx examples/custom-controller.ts   # start it 1, 2 or 10 times
 */
import { KubeConfig } from '@kubernetes/client-node';
import {
  Controller, KubeClient, Manager, Store, createLogger, done, frameworkMigrations, migrate,
  requeueAfter, setCondition, writeStatus, type Condition, type Reconciler, type Resource,
} from '../framework/index.js';

type Widget = Resource<{ size?: number }, { conditions?: Condition[]; observedGeneration?: number; seenSize?: number }>;

const replica = `widgets-${process.pid}`;
const logger = createLogger({ replica });
const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
const store = new Store({ connectionString: process.env.DATABASE_URL ?? 'postgres://localhost/tend', logger });
await migrate(store, frameworkMigrations);

const widgets = new KubeClient<Widget>({ group: 'test.tend.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true }, kubeConfig);
const manager = new Manager({ logger, replica, store, healthPort: 0 });

/** Mirrors spec.size into status and says Ready; big widgets are looked at again every 30 s. */
const reconcile: Reconciler<Widget> = async (ctx, widget) => {
  const generation = widget.metadata.generation ?? 0;
  const size = widget.spec?.size ?? 0;
  const { conditions } = setCondition(
    widget.status?.conditions,
    { type: 'Ready', status: 'True', reason: 'Sized', message: `size ${size}` },
    { now: ctx.now(), generation },
  );
  // Writes only when something differs: a resync of a settled widget writes nothing.
  await writeStatus(widgets, widget, { conditions, observedGeneration: generation, seenSize: size });
  return size > 10 ? requeueAfter(30_000) : done();
};

manager.add(new Controller({ name: 'widget', informer: manager.informer(widgets), reconcile, logger, ownership: manager.ownership, metrics: manager.metrics }));
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());
await manager.start(stop.signal);
