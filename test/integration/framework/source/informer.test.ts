/**
 * The informer against a real API server that goes away: an object deleted while the informer
 * was disconnected (straight from etcd, as another client would while we could not see) must
 * still come out as a `deleted` change after the informer lists again.
 */
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, type Resource, type ResourceType } from '../../../../framework/client/index.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { Informer, type Change } from '../../../../framework/source/index.js';
import { installCrds } from '../../../env/crds.js';
import { REPO_ROOT, startTestEnvironment, type TestEnvironment } from '../../../env/environment.js';
import { eventually } from '../../../env/eventually.js';

const widgetType: ResourceType = { group: 'test.tend.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
let env: TestEnvironment;
let client: KubeClient;
const stop = new AbortController();

beforeAll(async () => {
  env = await startTestEnvironment();
  await installCrds(env.apiserver.kubeconfigPath, join(REPO_ROOT, 'test/fixtures/crds'));
  const kc = new KubeConfig();
  kc.loadFromFile(env.apiserver.kubeconfigPath);
  client = new KubeClient(widgetType, kc);
}, 120_000);

afterAll(async () => {
  stop.abort();
  await env?.stop();
});

/** Deletes a key straight from etcd through its JSON gateway. */
async function deleteFromEtcd(key: string): Promise<void> {
  const res = await fetch(`${env.etcd.url}/v3/kv/deleterange`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(key).toString('base64') }) });
  const body = (await res.json()) as { deleted?: string };
  if (body.deleted !== '1') throw new Error(`etcd deleted ${body.deleted ?? 0} keys for ${key}`);
}

describe('Informer', () => {
  it('lists again after losing its server, turning objects deleted meanwhile into deleted changes', async () => {
    for (const name of ['a', 'b', 'c']) {
      await client.create({ apiVersion: 'test.tend.dev/v1', kind: 'Widget', metadata: { name, namespace: 'default' }, spec: { size: 1 } } as Resource);
    }
    const informer = new Informer(client, { logger: createLogger({ level: 'silent' }), maxRetryDelayMs: 500 });
    const changes: Change<Resource>[] = [];
    informer.onChange((change) => changes.push(change));
    informer.start(stop.signal);
    await informer.synced();
    expect(informer.cache.keys().sort()).toEqual(['default/a', 'default/b', 'default/c']);
    const listsBefore = informer.listCount;

    await env.apiserver.process.stop();
    await deleteFromEtcd('/registry/test.tend.dev/widgets/default/b');
    await env.apiserver.restart();

    const deleted = await eventually(() => changes.find((c) => c.type === 'deleted' && c.object.metadata.name === 'b'), { what: 'deleted change for b', timeoutMs: 30_000 });
    expect(deleted.old?.metadata.name).toBe('b');
    expect(informer.cache.keys().sort()).toEqual(['default/a', 'default/c']);
    expect(informer.listCount).toBeGreaterThan(listsBefore);
    // Unchanged objects produce no change on the re-list.
    expect(changes.filter((c) => c.type === 'updated')).toEqual([]);
  });
});
