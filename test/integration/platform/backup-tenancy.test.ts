/**
 * Backups belong to the tenant that made them, end to end: controllers in this process on the
 * PostgreSQL backend, a `tend agent` process with its node's own login (so the grants and policies
 * on platform.backup_sets are the real ones), and a backup folder.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../../api/admission.js';
import type { Tenant } from '../../../api/types/tenant.js';
import type { Volume } from '../../../api/types/volume.js';
import { BACKUP_REQUEST_ANNOTATION } from '../../../api/types/volume.js';
import { FolderBackupStore } from '../../../agents/node/volumes/folder-backup-store.js';
import { buildPlatform, platformClients } from '../../../controllers/platform.js';
import { ConflictError, PostgresClient, type Resource, type ResourceClient } from '../../../framework/client/index.js';
import { findCondition, type Condition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';

const RETENTION_MS = 20_000;
const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('backup_tenancy');
const dir = mkdtempSync(join(tmpdir(), 'tend-backup-tenancy-'));
const backupDir = join(dir, 'backups');
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
  running = buildPlatform({ store, logger, replica: 'test', membership: false, resyncMs: 2_000, cluster: { heartbeatMs: 1_000, deletedBackupRetentionMs: RETENTION_MS } }).start(stop.signal);
  for (const [name, namespaces] of [['acme', ['shop']], ['beta', []]] as const) {
    await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name }, spec: { namespaces: [...namespaces] } });
  }
  await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' } } });
  const credentials = await enrolledCredentials(url, 'node', 'n1', dir);
  agent = startTend('agent-n1', ['agent', '--node', 'n1', '--credentials-file', credentials, '--state-dir', join(dir, 'agent'), '--backup-dir', backupDir, '--heartbeat-ms', '1000', '--poll-ms', '500'], join(dir, 'agent.log'));
  await condition(clients.node, 'n1', 'Ready', 'True');
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  stop.abort();
  await running;
  await databases.dropAll();
});

async function condition<T extends Resource>(client: ResourceClient<T>, key: string, type: string, status: string, reason?: string): Promise<Condition> {
  return eventually(async () => {
    const c = findCondition(((await client.get(key as Key))?.status as { conditions?: [] } | undefined)?.conditions, type);
    return c?.status === status && (!reason || c.reason === reason) ? c : undefined;
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

const volume = (name: string, spec: Partial<NonNullable<Volume['spec']>> = {}): Volume =>
  ({ apiVersion: 'tend.dev/v1alpha1', kind: 'Volume', metadata: { name, namespace: 'shop' }, spec: { size: '1Gi', node: 'n1', ...spec } });
const volumeDir = (name: string) => join(dir, 'agent', 'volumes', 'shop', name);

async function gone(key: string): Promise<void> {
  await clients.volume.delete(key as Key);
  await eventually(async () => ((await clients.volume.get(key as Key)) === undefined ? true : undefined), { what: `${key} deleted`, timeoutMs: 30_000 });
}

interface BackupSet { storeKey: string; tenant: string; keptMs: number }
const backupSets = () => store.query<BackupSet>({
  name: 'test.backup_sets',
  text: `select store_key as "storeKey", tenant, (extract(epoch from prune_after - released_at) * 1000)::int as "keptMs" from platform.backup_sets order by released_at`,
});

describe('backups and tenants', () => {
  it('keys backups by tenant and uid, restores a deleted Volume only for its tenant, refuses another tenant naming it, and prunes after the retention', async () => {
    const created = await clients.volume.create(volume('data'));
    await condition(clients.volume, 'shop/data', 'Ready', 'True');
    writeFileSync(join(volumeDir('data'), 'orders.db'), 'acme orders');
    await change(clients.volume, 'shop/data', (v) => ({ ...v, metadata: { ...v.metadata, annotations: { [BACKUP_REQUEST_ANNOTATION]: '1' } } }));
    await eventually(async () => ((await clients.volume.get('shop/data' as Key))?.status?.backups?.length === 1 ? true : undefined), { what: 'a backup of shop/data' });
    const backups = new FolderBackupStore(backupDir);
    const storeKey = `acme/${created.metadata.uid}`;
    expect(await backups.list(storeKey)).toHaveLength(1);
    expect(await backups.list('shop/data')).toEqual([]);

    // Deleted: the data goes, the backups are kept for the retention, and the tenant can restore them.
    await gone('shop/data');
    expect(await backupSets()).toEqual([{ storeKey, tenant: 'acme', keptMs: RETENTION_MS }]);
    await clients.volume.create(volume('again', { restoreFrom: { volume: 'data' } }));
    await condition(clients.volume, 'shop/again', 'Ready', 'True');
    expect(readFileSync(join(volumeDir('again'), 'orders.db'), 'utf8')).toBe('acme orders');
    await gone('shop/again');

    // The namespace goes to another tenant, which names the deleted Volume: refused, nothing created.
    await change(clients.tenant, 'acme', (t: Tenant) => ({ ...t, spec: { ...t.spec!, namespaces: [] } }));
    await change(clients.tenant, 'beta', (t: Tenant) => ({ ...t, spec: { ...t.spec!, namespaces: ['shop'] } }));
    await condition(clients.tenant, 'beta', 'NamespacesClaimed', 'True');
    await clients.volume.create(volume('stolen', { restoreFrom: { volume: 'data' } }));
    const refused = await condition(clients.volume, 'shop/stolen', 'Ready', 'False', 'RestoreNotAllowed');
    expect(refused.message).toBe('spec.restoreFrom: the backups of volume shop/data were made by another tenant: restoreFrom only restores backups of this tenant (beta); the volume is not created');
    expect(findCondition((await clients.volume.get('shop/stolen' as Key))!.status!.conditions, 'Bound')?.reason).toBe('RestoreNotAllowed');
    expect(await store.query({ name: 'test.stolen_row', text: `select key from platform.volumes where key = 'shop/stolen'` })).toEqual([]);
    expect(existsSync(volumeDir('stolen'))).toBe(false);
    expect(await backups.list(storeKey)).toHaveLength(1);

    // Past the retention, the agent that took them prunes them and their record goes.
    await eventually(async () => ((await backupSets()).some((s) => s.storeKey === storeKey) ? undefined : true), { what: 'the released backups pruned', timeoutMs: RETENTION_MS + 40_000 });
    expect(await backups.list(storeKey)).toEqual([]);
    await clients.volume.delete('shop/stolen' as Key);
  }, 120_000);
});
