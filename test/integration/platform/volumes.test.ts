/**
 * Volumes end to end with real parts: controllers in this process on the PostgreSQL backend (the
 * same controllers as on Kubernetes), two `tend agent` processes as two nodes sharing a backup
 * folder, and a stateful App (examples/hello-server.mjs counting visits in its volume).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../../api/admission.js';
import type { App } from '../../../api/types/app.js';
import type { Node } from '../../../api/types/node.js';
import type { Volume } from '../../../api/types/volume.js';
import { BACKUP_REQUEST_ANNOTATION } from '../../../api/types/volume.js';
import type { CliIo } from '../../../cli/io.js';
import { runWhy } from '../../../cli/why.js';
import { buildPlatform, platformClients } from '../../../controllers/platform.js';
import { ApiError, ConflictError, PostgresClient, type Resource, type ResourceClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { REPO_ROOT } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import type { ServerProcess } from '../../env/server-process.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { startTend } from '../../env/tend-process.js';

const HEARTBEAT_MS = 1_000;
const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('volumes');
const dir = mkdtempSync(join(tmpdir(), 'tend-volumes-'));
const backupDir = join(dir, 'backups');
const agents = new Map<string, ServerProcess>();
const credentialFiles = new Map<string, string>();
const stop = new AbortController();
let url: string;
let store: Store;
let clients: ReturnType<typeof platformClients>;
let running: Promise<void>;

function startAgent(node: string): ServerProcess {
  const agent = startTend(`agent-${node}`, ['agent', '--node', node, '--credentials-file', credentialFiles.get(node)!, '--state-dir', join(dir, `agent-${node}`), '--backup-dir', backupDir, '--heartbeat-ms', String(HEARTBEAT_MS), '--poll-ms', '500', '--crash-backoff-ms', '200'], join(dir, `agent-${node}.log`));
  agents.set(node, agent);
  return agent;
}

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  clients = platformClients((type) => new PostgresClient(type, store, { listenUrl: url, admit }));
  running = buildPlatform({ store, logger, replica: 'test', membership: false, cluster: { heartbeatMs: HEARTBEAT_MS, lostGraceMs: 2_000 } }).start(stop.signal);
  await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['default'] } });
  for (const node of ['n1', 'n2']) {
    await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: node }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' } } });
    // Each agent connects as its node's own login, as on a cluster: its writes pass the real grants and policies.
    credentialFiles.set(node, await enrolledCredentials(url, 'node', node, dir));
    startAgent(node);
  }
  for (const node of ['n1', 'n2']) await ready(clients.node, node);
}, 120_000);

afterAll(async () => {
  for (const app of (await clients?.app.list())?.items ?? []) await clients.app.delete(`default/${app.metadata.name}` as Key);
  await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.count_instances', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0 ? true : undefined), { what: 'every instance gone', timeoutMs: 30_000 }).catch(() => {});
  await Promise.all([...agents.values()].map((a) => a.stop()));
  stop.abort();
  await running;
  await databases.dropAll();
});

async function ready<T extends Resource>(client: ResourceClient<T>, key: string): Promise<T> {
  return condition(client, key, 'Ready', 'True');
}

async function condition<T extends Resource>(client: ResourceClient<T>, key: string, type: string, status: string, reason?: string): Promise<T> {
  return eventually(async () => {
    const obj = await client.get(key as Key);
    const c = findCondition((obj?.status as { conditions?: [] } | undefined)?.conditions, type);
    return obj && c?.status === status && (!reason || c.reason === reason) ? obj : undefined;
  }, { what: `${key} ${type}=${status} ${reason ?? ''}`, timeoutMs: 45_000 });
}

async function change<T extends Resource>(client: ResourceClient<T>, key: string, fn: (obj: T) => T): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.update(fn((await client.get(key as Key))!));
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 5) throw err;
    }
  }
}

function volume(name: string, spec: Volume['spec']): Volume {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'Volume', metadata: { name, namespace: 'default' }, spec: spec! };
}

function counter(name: string, volumeName: string, env: Record<string, string> = {}): App {
  return {
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'App',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas: 1,
      command: ['node', join(REPO_ROOT, 'examples/hello-server.mjs')],
      env: Object.entries({ DATA_DIR: '/data', ...env }).map(([n, value]) => ({ name: n, value })),
      resources: { memory: '64Mi' },
      healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 },
      volumes: [{ volume: volumeName, mountPath: '/data' }],
      rollout: { maxSurge: 0, maxUnavailable: 1 },
    },
  } as App;
}

/** GET / of the app's one running instance. */
async function visit(app: string): Promise<string> {
  const [row] = await store.query<{ port: number }>({ name: 'test.ready_port', text: `select port from platform.instances where app = $1 and desired = 'running' and ready` }, [`default/${app}`]);
  const res = await fetch(`http://127.0.0.1:${row!.port}/`, { signal: AbortSignal.timeout(2_000) });
  return res.text();
}

function volumeFile(node: string, volumeName: string, file: string): string {
  return join(dir, `agent-${node}`, 'volumes', 'default', volumeName, file);
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('volumes', () => {
  let home: string; // the node that holds volume data
  let other: string;

  it('binds on first use, and a stateful App finds its data after it is restarted', async () => {
    await clients.volume.create(volume('data', { size: '1Gi', backup: { schedule: '0 3 * * *', retain: 2 } }));
    await condition(clients.volume, 'default/data', 'Bound', 'False', 'WaitingForFirstConsumer');
    await clients.app.create(counter('counter', 'data'));
    await ready(clients.app, 'default/counter');
    const data = await ready(clients.volume, 'default/data');
    home = data.status!.node!;
    other = home === 'n1' ? 'n2' : 'n1';
    const [instance] = await store.query<{ node: string }>({ name: 'test.node_of', text: `select node from platform.instances where app = 'default/counter' and desired = 'running'` });
    expect(instance!.node).toBe(home);
    expect(await visit('counter')).toContain('(visit 1)');
    expect(await visit('counter')).toContain('(visit 2)');

    // A new revision: the old instance stops first (one writer), the new one reads the same file.
    await change(clients.app, 'default/counter', (a) => ({ ...a, spec: { ...a.spec!, env: [...a.spec!.env!, { name: 'REVISION', value: '2' }] } }));
    await eventually(async () => {
      const rows = await store.query<{ revision: string; ready: boolean }>({ name: 'test.revisions', text: `select revision, ready from platform.instances where app = 'default/counter' and desired = 'running'` });
      const app = await clients.app.get('default/counter' as Key);
      return rows.length === 1 && rows[0]!.ready && rows[0]!.revision === app?.status?.revision && app.status.observedGeneration === app.metadata.generation ? true : undefined;
    }, { what: 'the new revision running alone', timeoutMs: 45_000 });
    expect(await visit('counter')).toContain('(visit 3)');
    expect(readFileSync(volumeFile(home, 'data', 'visits'), 'utf8')).toBe('...');
  });

  it('says Scheduled=False when asked for more replicas than a single-writer volume allows', async () => {
    await change(clients.app, 'default/counter', (a) => ({ ...a, spec: { ...a.spec!, replicas: 3 } }));
    const app = await condition(clients.app, 'default/counter', 'Scheduled', 'False', 'VolumeSingleWriter');
    expect(findCondition(app.status?.conditions, 'Scheduled')?.message).toBe('spec.replicas is 3, but its volume is single-writer (default/data): at most 1 instance runs');
    expect((await store.query({ name: 'test.count_running', text: `select id from platform.instances where app = 'default/counter' and desired = 'running'` })).length).toBe(1);
    await change(clients.app, 'default/counter', (a) => ({ ...a, spec: { ...a.spec!, replicas: 1 } }));
  });

  it('binds only where the disk a node offers (spec.capacity.disk) leaves room', async () => {
    await clients.volume.create(volume('huge', { size: '20Gi' }));
    await clients.app.create(counter('greedy', 'huge'));
    const app = await condition(clients.app, 'default/greedy', 'Scheduled', 'False', 'Unschedulable');
    expect(findCondition(app.status?.conditions, 'Scheduled')?.message).toMatch(/^0\/2 nodes can hold its volumes \(20\.0Gi\): 2 not enough free disk \(most free \d+(\.\d)?Gi\)$/);
    await condition(clients.volume, 'default/huge', 'Bound', 'False', 'WaitingForFirstConsumer');
    await clients.app.delete('default/greedy' as Key);
    await clients.volume.delete('default/huge' as Key);
  });

  it('backs up on request, keeps `retain`, and restores into a new Volume on the other node with the same checksum', async () => {
    const backupsOf = async () => (await clients.volume.get('default/data' as Key))?.status?.backups ?? [];
    for (const request of ['1', '2', '3']) {
      const before = (await backupsOf()).map((b) => b.id);
      await change(clients.volume, 'default/data', (v) => ({ ...v, metadata: { ...v.metadata, annotations: { [BACKUP_REQUEST_ANNOTATION]: request } } }));
      await eventually(async () => {
        const ids = (await backupsOf()).map((b) => b.id);
        return ids.some((id) => !before.includes(id)) ? true : undefined;
      }, { what: `backup ${request} listed`, timeoutMs: 30_000 });
    }
    const backups = await backupsOf();
    expect(backups).toHaveLength(2); // retain: 2 — the first one was pruned
    expect(backups[1]).toMatchObject({ checksum: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect((await clients.volume.get('default/data' as Key))?.status?.lastBackupTime).toBeDefined();

    await clients.volume.create(volume('copy', { size: '1Gi', node: other, restoreFrom: { volume: 'data', backup: backups[1]!.id } }));
    const copy = await ready(clients.volume, 'default/copy');
    expect(copy.status?.node).toBe(other);
    expect(sha256(volumeFile(other, 'copy', 'visits'))).toBe(sha256(volumeFile(home, 'data', 'visits')));
  });

  it('lets a volume grow but not shrink', async () => {
    await change(clients.volume, 'default/copy', (v) => ({ ...v, spec: { ...v.spec!, size: '2Gi' } }));
    await eventually(async () => ((await store.query<{ size: string }>({ name: 'test.volume_size', text: `select size::text from platform.volumes where key = 'default/copy'` }))[0]?.size === String(2 * 2 ** 30) ? true : undefined), { what: 'the row grown' });
    const shrink = change(clients.volume, 'default/copy', (v) => ({ ...v, spec: { ...v.spec!, size: '1Gi' } }));
    await expect(shrink).rejects.toThrow(ApiError);
    await expect(shrink).rejects.toThrow(/spec\.size: Invalid value: .*may only grow: cannot shrink from 2Gi to 1Gi/);
  });

  it('will not decommission a node while volumes remain there, and says which', async () => {
    await change(clients.node, other, (n: Node) => ({ ...n, spec: { ...n.spec, decommission: true } }));
    const node = await condition(clients.node, other, 'Ready', 'False', 'DecommissionBlocked');
    expect(findCondition(node.status?.conditions, 'Ready')?.message).toMatch(/^1 volume still here \(default\/copy\)/);
    await change(clients.node, other, (n: Node) => ({ ...n, spec: { ...n.spec, decommission: false } }));
    await ready(clients.node, other);
  });

  it('blocks deleting a mounted volume, then removes its data and keeps its backups', async () => {
    await clients.volume.delete('default/data' as Key);
    const blocked = await condition(clients.volume, 'default/data', 'Ready', 'False', 'DeletionBlocked');
    expect(findCondition(blocked.status?.conditions, 'Ready')?.message).toMatch(/^still mounted by App counter/);
    expect(existsSync(volumeFile(home, 'data', 'visits'))).toBe(true);
    await clients.app.delete('default/counter' as Key);
    await eventually(async () => ((await clients.volume.get('default/data' as Key)) === undefined ? true : undefined), { what: 'volume data gone', timeoutMs: 30_000 });
    expect(existsSync(volumeFile(home, 'data', 'visits'))).toBe(false);
    expect(existsSync(backupDir)).toBe(true);
  });

  it('keeps a stateful App on its lost node and names the node and the latest backup', async () => {
    await change(clients.volume, 'default/copy', (v) => ({ ...v, metadata: { ...v.metadata, annotations: { [BACKUP_REQUEST_ANNOTATION]: 'before-loss' } } }));
    const copy = await eventually(async () => {
      const v = await clients.volume.get('default/copy' as Key);
      return v?.status?.backups?.length ? v : undefined;
    }, { what: 'a backup of copy' });
    const latest = copy.status!.backups!.at(-1)!.id;
    await clients.app.create(counter('reader', 'copy'));
    await ready(clients.app, 'default/reader');
    await agents.get(other)!.kill();
    const app = await condition(clients.app, 'default/reader', 'Available', 'False', 'VolumeNodeLost');
    expect(findCondition(app.status?.conditions, 'Available')?.message).toMatch(
      new RegExp(`^data of volume default/copy lives on node ${other}, NotReady since \\S+; restore the latest backup \\(${latest}, \\S+\\) into a new Volume with spec.restoreFrom, or wait for ${other}$`),
    );
    const v = await condition(clients.volume, 'default/copy', 'Ready', 'False', 'NodeLost');
    expect(findCondition(v.status?.conditions, 'Ready')?.message).toContain(latest);
    // Past the lost-node grace period (2 s), a stateless App would have moved; this one stays.
    await eventually(async () => {
      const rows = await store.query<{ node: string; desired: string }>({ name: 'test.reader_instances', text: `select node, desired from platform.instances where app = 'default/reader'` });
      const lostFor = Date.now() - new Date(findCondition(app.status?.conditions, 'Available')!.lastTransitionTime).getTime();
      return lostFor > 4_000 ? rows : undefined;
    }, { what: 'the grace period to pass', timeoutMs: 20_000 }).then((rows) => expect(rows).toEqual([{ node: other, desired: 'running' }]));

    // The one debug story, from the command line.
    const out: string[] = [];
    const io: CliIo = { out: (l) => out.push(l), err: (l) => out.push(l), readStdin: () => '' };
    expect(await runWhy(['volume/copy', '--database-url', url], io, {})).toBe(0);
    const why = out.join('\n');
    expect(why).toMatch(new RegExp(`^Volume default/copy is not Ready: Provisioned=False NodeLost: data of volume default/copy lives on node ${other}`));
    expect(why).toMatch(new RegExp(`\nData: on node ${other} \\(lost since \\S+\\); ready; \\S+ of 2\\.0Gi used\n`));
    expect(why).toContain(`\nBackups: ${copy.status!.backups!.length}, latest ${latest} at `);
    expect(why).toContain('\nMounted by: App reader');
    startAgent(other);
  });
});
