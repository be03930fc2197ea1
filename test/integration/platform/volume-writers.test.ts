/**
 * A Volume has one writer, whichever App asks: with the controllers in this process (PostgreSQL
 * backend) and one real `tend agent`, the first App that mounts a volume holds it, another App
 * mounting it waits with Scheduled=False VolumeInUse and gets no instance, and takes the volume
 * over once the holder lets go. A Volume whose deletion is waiting is mounted by no new App.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../../api/admission.js';
import type { App } from '../../../api/types/app.js';
import type { Volume } from '../../../api/types/volume.js';
import { buildPlatform, platformClients } from '../../../controllers/platform.js';
import { PostgresClient, type Resource, type ResourceClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { REPO_ROOT } from '../../env/environment.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';
import { updateSpec } from '../../env/update-spec.js';

const HEARTBEAT_MS = 1_000;
const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('volume-writers');
const dir = mkdtempSync(join(tmpdir(), 'tend-volume-writers-'));
const stop = new AbortController();
let store: Store;
let clients: ReturnType<typeof platformClients>;
let running: Promise<void>;
let agent: ServerProcess;

beforeAll(async () => {
  const url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  clients = platformClients((type) => new PostgresClient(type, store, { listenUrl: url, admit }));
  running = buildPlatform({ store, logger, replica: 'test', membership: false, cluster: { heartbeatMs: HEARTBEAT_MS } }).start(stop.signal);
  await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['default'] } });
  await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' } } });
  const credentials = await enrolledCredentials(url, 'node', 'n1', dir);
  agent = startTend('agent-n1', ['agent', '--node', 'n1', '--credentials-file', credentials, '--state-dir', join(dir, 'agent-n1'), '--heartbeat-ms', String(HEARTBEAT_MS), '--poll-ms', '500', '--crash-backoff-ms', '200'], join(dir, 'agent-n1.log'));
  await condition(clients.node, 'n1', 'Ready', 'True');
}, 120_000);

afterAll(async () => {
  for (const app of (await clients?.app.list())?.items ?? []) await clients.app.delete(`default/${app.metadata.name}` as Key);
  await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.count_instances', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0 ? true : undefined), { what: 'every instance gone', timeoutMs: 30_000 }).catch(() => {});
  await agent?.stop();
  stop.abort();
  await running;
  await databases.dropAll();
});

async function condition<T extends Resource>(client: ResourceClient<T>, key: string, type: string, status: string, reason?: string): Promise<T> {
  return eventually(async () => {
    const obj = await client.get(key as Key);
    const c = findCondition((obj?.status as { conditions?: [] } | undefined)?.conditions, type);
    return obj && c?.status === status && (!reason || c.reason === reason) && obj.status && (obj.status as { observedGeneration?: number }).observedGeneration === obj.metadata.generation ? obj : undefined;
  }, { what: `${key} ${type}=${status} ${reason ?? ''}`, timeoutMs: 45_000 });
}

function volume(name: string): Volume {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'Volume', metadata: { name, namespace: 'default' }, spec: { size: '256Mi' } };
}

/** examples/hello-server.mjs counting visits in the volume. */
function writer(name: string, volumeName: string): App {
  return {
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'App',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas: 1,
      command: ['node', join(REPO_ROOT, 'examples/hello-server.mjs')],
      env: [{ name: 'DATA_DIR', value: '/data' }],
      resources: { memory: '64Mi' },
      healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 },
      volumes: [{ volume: volumeName, mountPath: '/data' }],
    },
  } as App;
}

/** The instances (not yet reported stopped) of each App mounting `volumeName`: every one of them may still write. */
async function writersOf(volumeName: string): Promise<Map<string, number>> {
  const rows = await store.query<{ app: string; n: number }>({
    name: 'test.volume_writers',
    text: `select i.app, count(*)::int as n from platform.instances i
           where i.spec -> 'volumes' @> jsonb_build_array(jsonb_build_object('volume', $1::text))
             and i.phase is distinct from 'stopped'
           group by i.app`,
  }, [`default/${volumeName}`]);
  return new Map(rows.map((r) => [r.app, r.n]));
}

async function instancesOf(app: string): Promise<number> {
  const [row] = await store.query<{ n: number }>({ name: 'test.instances_of', text: `select count(*)::int as n from platform.instances where app = $1` }, [`default/${app}`]);
  return row!.n;
}

describe('a volume has one writer among Apps', () => {
  it('gives a volume to the first App that mounts it; a second App gets Scheduled=False VolumeInUse and no instance', async () => {
    await clients.volume.create(volume('shared'));
    await clients.app.create(writer('first', 'shared'));
    await condition(clients.app, 'default/first', 'Ready', 'True');
    await clients.app.create(writer('second', 'shared'));
    const second = await condition(clients.app, 'default/second', 'Scheduled', 'False', 'VolumeInUse');
    expect(findCondition(second.status?.conditions, 'Scheduled')?.message).toBe(
      'volume default/shared is single-writer and mounted by App first: no instance starts until first stops mounting it (remove it from its spec.volumes or delete it)',
    );
    expect(findCondition(second.status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'VolumeInUse' });
    expect(await instancesOf('second')).toBe(0);
    expect(await writersOf('shared')).toEqual(new Map([['default/first', 1]]));
  });

  it('hands the volume to the waiting App once the holder stops mounting it, never to two at once', async () => {
    const seen: string[] = [];
    const watching = new AbortController();
    // Sampled all along the hand-over: no moment with instances of two Apps on the volume.
    const sampler = (async () => {
      while (!watching.signal.aborted) {
        const writers = await writersOf('shared');
        if (writers.size > 1) seen.push(JSON.stringify([...writers]));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    // The holder drops the volume from its spec (it goes on, stateless): its instance mounting it stops first.
    await updateSpec(clients.app, 'default/first', (spec) => ({ ...spec, env: [], volumes: [] }));
    await condition(clients.app, 'default/second', 'Ready', 'True');
    watching.abort();
    await sampler;
    expect(seen).toEqual([]);
    expect(await writersOf('shared')).toEqual(new Map([['default/second', 1]]));
    await condition(clients.app, 'default/first', 'Ready', 'True');
  });

  it('hands it on when the holder is deleted', async () => {
    await clients.app.create(writer('third', 'shared'));
    await condition(clients.app, 'default/third', 'Scheduled', 'False', 'VolumeInUse');
    expect(await instancesOf('third')).toBe(0);
    await clients.app.delete('default/second' as Key);
    await condition(clients.app, 'default/third', 'Ready', 'True');
    expect(await writersOf('shared')).toEqual(new Map([['default/third', 1]]));
  });

  it('starts no new App on a volume whose deletion is waiting: Scheduled=False VolumeDeleting', async () => {
    await clients.volume.create(volume('doomed'));
    await clients.app.create(writer('holder', 'doomed'));
    await condition(clients.app, 'default/holder', 'Ready', 'True');
    await clients.volume.delete('default/doomed' as Key);
    await condition(clients.volume, 'default/doomed', 'Ready', 'False', 'DeletionBlocked');
    await clients.app.create(writer('late', 'doomed'));
    const late = await condition(clients.app, 'default/late', 'Scheduled', 'False', 'VolumeDeleting');
    expect(findCondition(late.status?.conditions, 'Scheduled')?.message).toBe('volume default/doomed is being deleted: no instance of this App mounts it; remove it from spec.volumes (its deletion waits for every App that lists it)');
    expect(await instancesOf('late')).toBe(0);
    // The holder keeps running meanwhile. Once it is gone the late App, which mounts the volume
    // too, still holds the deletion and still gets nothing; once it goes, the data goes.
    expect(await writersOf('doomed')).toEqual(new Map([['default/holder', 1]]));
    await clients.app.delete('default/holder' as Key);
    await eventually(async () => ((await writersOf('doomed')).size === 0 ? true : undefined), { what: "holder's instance gone" });
    await eventually(async () => {
      const ready = findCondition((await clients.volume.get('default/doomed' as Key))?.status?.conditions, 'Ready');
      return ready?.reason === 'DeletionBlocked' && ready.message.startsWith('still mounted by App late:') ? true : undefined;
    }, { what: 'the deletion blocked by App late alone' });
    await condition(clients.app, 'default/late', 'Scheduled', 'False', 'VolumeDeleting');
    expect(await instancesOf('late')).toBe(0);
    await clients.app.delete('default/late' as Key);
    await eventually(async () => ((await clients.volume.get('default/doomed' as Key)) === undefined ? true : undefined), { what: 'volume doomed gone', timeoutMs: 30_000 });
  });
});
