import { CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Resource } from '../../../../framework/client/index.js';
import { KubeEventRecorder } from '../../../../framework/events/index.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { freshNamespace, kubeConfig } from '../../../env/context.js';
import { eventually } from '../../../env/eventually.js';

const logger = createLogger({ level: 'silent' });

async function eventsIn(namespace: string) {
  return (await kubeConfig().makeApiClient(CoreV1Api).listNamespacedEvent({ namespace })).items;
}

const object = (namespace: string, name: string): Resource => ({
  apiVersion: 'tend.dev/v1alpha1',
  kind: 'App',
  metadata: { name, namespace, uid: `uid-${namespace}-${name}` },
});

describe('KubeEventRecorder', () => {
  it('records an event on the object and folds a repeat into its count', async () => {
    const ns = await freshNamespace('events');
    const recorder = new KubeEventRecorder(kubeConfig(), { logger, instance: 'replica-1' });
    const app = object(ns, 'web');
    recorder.record(app, 'Warning', 'Unschedulable', '0/3 nodes have 512Mi free');
    await eventually(async () => ((await eventsIn(ns)).length === 1 ? true : undefined));
    recorder.record(app, 'Warning', 'Unschedulable', '0/3 nodes have 512Mi free');
    const [event] = await eventually(async () => {
      const events = await eventsIn(ns);
      return events[0]?.count === 2 ? events : undefined;
    }, { what: 'count 2' });
    expect(event).toMatchObject({
      type: 'Warning',
      reason: 'Unschedulable',
      involvedObject: { kind: 'App', name: 'web', namespace: ns, uid: app.metadata.uid },
      source: { component: 'tend', host: 'replica-1' },
    });
    expect(await eventsIn(ns)).toHaveLength(1);
  });

  it('drops a flood from one object after a burst of 25', async () => {
    const ns = await freshNamespace('events');
    const recorder = new KubeEventRecorder(kubeConfig(), { logger });
    const app = object(ns, 'noisy');
    for (let i = 0; i < 40; i++) recorder.record(app, 'Normal', 'Step', `step ${i}`);
    await recorder.flush();
    const quiet = object(ns, 'quiet');
    recorder.record(quiet, 'Normal', 'Step', 'still heard');
    await recorder.flush();
    const events = await eventsIn(ns);
    expect(events.filter((e) => e.involvedObject.name === 'noisy')).toHaveLength(25);
    expect(events.filter((e) => e.involvedObject.name === 'quiet')).toHaveLength(1);
  });
});
