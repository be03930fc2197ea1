import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNodeAgent } from '../../../../../agents/node/agent.js';
import type { InstanceLogSource, InstanceSpec, InstanceStatus, Runtime } from '../../../../../agents/node/runtime/runtime.js';
import type { VolumeBackupRecord } from '../../../../../agents/node/volumes/volume-queries.js';
import { VolumeSyncState, syncVolumes, volumeDir, type VolumeSyncOptions } from '../../../../../agents/node/volumes/volume-sync.js';
import { FolderBackupStore } from '../../../../../agents/node/volumes/folder-backup-store.js';
import { createLogger } from '../../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../../framework/store/index.js';
import { platformMigrations } from '../../../../../migrations/index.js';
import { eventually } from '../../../../env/eventually.js';
import { FreshDatabases } from '../../../../env/fresh-database.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('volume_sync');
const NODE = 'n1';
/** The node of the agent-loop test, so the volumes above are not its business. */
const AGENT_NODE = 'n2';
let databaseUrl: string;
let store: Store;
let root: string;
let backupStore: FolderBackupStore;
let options: VolumeSyncOptions;
const state = new VolumeSyncState();
let hex = 0;

beforeAll(async () => {
  databaseUrl = await databases.create();
  store = new Store({ connectionString: databaseUrl, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  for (const node of [NODE, AGENT_NODE]) {
    await store.query(
      {
        name: 'test.insert_node',
        text: `insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu) values ($1, 'uid-' || $1, 1, 'ready', $2, 2000)`,
      },
      [node, 2 ** 32],
    );
  }
  root = mkdtempSync(join(tmpdir(), 'tend-volume-sync-'));
  backupStore = new FolderBackupStore(join(root, 'backups'));
  // Fixed suffixes: four random hex digits could repeat within one second of backups.
  options = { node: NODE, store, backupStore, stateDir: join(root, 'agent-n1'), logger, randomHex: () => (hex++).toString(16).padStart(4, '0') };
});

afterAll(async () => {
  await state.idle();
  await store?.close();
  await databases.dropAll();
  if (root) rmSync(root, { recursive: true, force: true });
});

interface Row {
  phase: string | null;
  message: string | null;
  usage: string | null;
  backups: VolumeBackupRecord[];
  last_backup_at: Date | null;
  backup_request_done: string | null;
  xmin: string;
}

async function row(key: string): Promise<Row> {
  const rows = await store.query<Row>(
    { name: 'test.volume_row', text: `select phase, message, usage::text, backups, last_backup_at, backup_request_done, xmin::text from platform.volumes where key = $1` },
    [key],
  );
  return rows[0]!;
}

async function createVolume(key: string, columns: { restoreFrom?: object; retain?: number; node?: string | null } = {}): Promise<void> {
  await store.query(
    {
      name: 'test.insert_volume',
      text: `insert into platform.volumes (key, uid, tenant, size, node, bound_at, restore_from, backup_retain)
             values ($1, 'uid-' || $1, 'acme', $2, $3, case when $3::text is null then null else now() end, $4::jsonb, $5)`,
    },
    [key, 2 ** 30, columns.node === undefined ? NODE : columns.node, columns.restoreFrom ? JSON.stringify(columns.restoreFrom) : null, columns.retain ?? 7],
  );
}

async function update(key: string, set: 'backup_request' | 'desired' | 'node', value: string): Promise<void> {
  await store.query({ name: `test.set_${set}`, text: `update platform.volumes set ${set} = $2 where key = $1` }, [key, value]);
}

/** One pass, then its background restores and backups. */
async function syncAndWait(): Promise<ReadonlyMap<string, string>> {
  const result = await syncVolumes(options, state);
  await result.background;
  return result.ready;
}

/** sha256 of every file under `dir` by relative path: equal trees have equal digests. */
function treeDigest(dir: string): string {
  const hash = createHash('sha256');
  const walk = (folder: string) => {
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(`${relative(dir, path)}\0`).update(readFileSync(path)).update('\0');
    }
  };
  walk(dir);
  return hash.digest('hex');
}

describe('syncVolumes', () => {
  it('provisions the directory, reports ready and usage, and writes nothing when nothing changed', async () => {
    await createVolume('acme/data');
    const ready = await syncAndWait();
    const dir = volumeDir(options.stateDir, 'acme/data');
    expect(dir).toBe(join(root, 'agent-n1', 'volumes', 'acme', 'data'));
    expect(statSync(dir).isDirectory()).toBe(true);
    expect(ready.get('acme/data')).toBe(dir);
    expect(await row('acme/data')).toMatchObject({ phase: 'ready', message: null, usage: '0' });

    writeFileSync(join(dir, 'a.bin'), Buffer.alloc(1234, 1));
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'b.txt'), 'hello');
    await syncAndWait();
    const measured = await row('acme/data');
    expect(measured.usage).toBe('1239');

    await syncAndWait();
    await syncAndWait();
    expect((await row('acme/data')).xmin).toBe(measured.xmin);
  });

  it('takes a requested backup, lists it with its checksum, serves the request once, and prunes beyond retain', async () => {
    await createVolume('acme/logs', { retain: 2 });
    await syncAndWait();
    writeFileSync(join(volumeDir(options.stateDir, 'acme/logs'), 'log.txt'), 'first\n');
    await update('acme/logs', 'backup_request', 'r1');
    await syncAndWait();
    const first = await row('acme/logs');
    const stored = await backupStore.list('acme/logs');
    expect(stored).toHaveLength(1);
    expect(stored[0]!.id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    expect(first.backups).toEqual([{ id: stored[0]!.id, time: stored[0]!.time.toISOString(), sizeBytes: stored[0]!.sizeBytes, checksum: `sha256:${stored[0]!.checksum}` }]);
    expect(first.backups[0]!.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(first).toMatchObject({ backup_request_done: 'r1', message: null, last_backup_at: stored[0]!.time });

    // Served: the next pass takes no backup and writes nothing.
    await syncAndWait();
    expect(await backupStore.list('acme/logs')).toHaveLength(1);
    expect((await row('acme/logs')).xmin).toBe(first.xmin);

    for (const request of ['r2', 'r3']) {
      await update('acme/logs', 'backup_request', request);
      await syncAndWait();
    }
    const after = await row('acme/logs');
    const kept = await backupStore.list('acme/logs');
    expect(kept).toHaveLength(2);
    expect(kept.map((b) => b.id)).not.toContain(stored[0]!.id);
    expect(after.backups.map((b) => b.id)).toEqual(kept.map((b) => b.id));
    expect(after.backup_request_done).toBe('r3');
    expect(after.last_backup_at).toEqual(kept[1]!.time);
  });

  it('takes a scheduled backup once a firing has passed since the volume was bound', async () => {
    await createVolume('acme/nightly');
    await store.query(
      { name: 'test.schedule', text: `update platform.volumes set backup_schedule = '@hourly', bound_at = now() - interval '2 hours' where key = $1` },
      ['acme/nightly'],
    );
    await syncAndWait();
    expect(await backupStore.list('acme/nightly')).toHaveLength(1);
    await syncAndWait();
    expect(await backupStore.list('acme/nightly')).toHaveLength(1); // not due again until the next hour
    expect((await row('acme/nightly')).last_backup_at).not.toBeNull();
  });

  it('restores the latest backup into a new volume with identical content, and fails clearly on a corrupt archive', async () => {
    await createVolume('acme/source');
    await syncAndWait();
    const sourceDir = volumeDir(options.stateDir, 'acme/source');
    mkdirSync(join(sourceDir, 'db/base'), { recursive: true });
    writeFileSync(join(sourceDir, 'db/base/1.dat'), Buffer.alloc(100_000, 7));
    writeFileSync(join(sourceDir, 'PG_VERSION'), '16\n');
    await update('acme/source', 'backup_request', 'before-copy');
    await syncAndWait();
    const [backup] = await backupStore.list('acme/source');

    await createVolume('acme/copy', { restoreFrom: { volume: 'acme/source', backup: null } });
    const pass = await syncVolumes(options, state);
    expect(pass.ready.has('acme/copy')).toBe(false);
    expect((await row('acme/copy')).phase).toBe('restoring');
    await pass.background;
    expect((await row('acme/copy')).phase).toBe('ready');
    const ready = await syncAndWait();
    const copyDir = volumeDir(options.stateDir, 'acme/copy');
    expect(ready.get('acme/copy')).toBe(copyDir);
    expect(treeDigest(copyDir)).toBe(treeDigest(sourceDir));
    expect((await row('acme/copy')).usage).toBe((await row('acme/source')).usage);

    // Flip bytes in the middle of the stored archive, keeping its size.
    const archive = join(backupStore.folderOf('acme/source'), `${backup!.id}.tar`);
    const fd = openSync(archive, 'r+');
    writeSync(fd, Buffer.from('garbage!'), 0, 8, 50_000);
    closeSync(fd);
    await createVolume('acme/broken', { restoreFrom: { volume: 'acme/source', backup: backup!.id } });
    await syncAndWait();
    const broken = await row('acme/broken');
    expect(broken.phase).toBe('failed');
    expect(broken.message).toContain(`backup ${backup!.id} of volume acme/source`);
    expect(broken.message).toContain('corrupt');
    expect(existsSync(volumeDir(options.stateDir, 'acme/broken'))).toBe(false);
    expect(readdirSync(join(options.stateDir, 'volumes', 'acme')).filter((n) => n.startsWith('.'))).toEqual([]);
    // Failed is sticky: no retry, no write.
    await syncAndWait();
    expect((await row('acme/broken')).xmin).toBe(broken.xmin);
  });

  it('reports a restore from a volume without backups as failed, naming it', async () => {
    await createVolume('acme/empty-source');
    await createVolume('acme/from-empty', { restoreFrom: { volume: 'empty-source' } });
    await syncAndWait();
    expect(await row('acme/from-empty')).toMatchObject({ phase: 'failed', message: expect.stringContaining('volume acme/empty-source has no backup') });
  });

  it('refuses to restore a backup of another namespace', async () => {
    await createVolume('other/thief', { restoreFrom: { volume: 'acme/source', backup: null } });
    await syncAndWait();
    expect(await row('other/thief')).toMatchObject({ phase: 'failed', message: expect.stringContaining('volume acme/source is not in the namespace of other/thief') });
    expect(existsSync(volumeDir(options.stateDir, 'other/thief'))).toBe(false);
  });

  it('treats an existing directory as ready after an agent restart, without restoring over it', async () => {
    const dir = volumeDir(options.stateDir, 'acme/adopted');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'kept'), 'mine');
    await createVolume('acme/adopted', { restoreFrom: { volume: 'acme/source', backup: null } });
    const ready = await syncVolumes(options, new VolumeSyncState());
    await ready.background;
    expect(ready.ready.get('acme/adopted')).toBe(dir);
    expect(await row('acme/adopted')).toMatchObject({ phase: 'ready', usage: '4' });
    expect(readdirSync(dir)).toEqual(['kept']);
  });

  it('removes the directory of a deleted volume and keeps its backups', async () => {
    const dir = volumeDir(options.stateDir, 'acme/logs');
    expect(existsSync(dir)).toBe(true);
    await update('acme/logs', 'desired', 'deleted');
    const ready = await syncAndWait();
    expect(ready.has('acme/logs')).toBe(false);
    expect(existsSync(dir)).toBe(false);
    const deleted = await row('acme/logs');
    expect(deleted.phase).toBe('deleted');
    expect(await backupStore.list('acme/logs')).toHaveLength(2);
    await syncAndWait();
    expect((await row('acme/logs')).xmin).toBe(deleted.xmin);
  });

  it('marks a ready volume whose directory vanished as failed instead of starting it empty', async () => {
    await createVolume('acme/vanishing');
    await syncAndWait();
    rmSync(volumeDir(options.stateDir, 'acme/vanishing'), { recursive: true });
    const ready = await syncAndWait();
    expect(ready.has('acme/vanishing')).toBe(false);
    expect(await row('acme/vanishing')).toMatchObject({ phase: 'failed', message: expect.stringContaining('is missing on node n1') });
    expect(existsSync(volumeDir(options.stateDir, 'acme/vanishing'))).toBe(false);
  });

  it('keeps backups under the backup key, not the name, restores only from the key the controller resolved, and prunes released ones past their retention', async () => {
    const setKey = (key: string, backupKey: string) => store.query({ name: 'test.set_backup_key', text: 'update platform.volumes set backup_key = $2 where key = $1' }, [key, backupKey]);
    await createVolume('acme/keyed');
    await setKey('acme/keyed', 'acme-tenant/uid-keyed');
    await syncAndWait();
    writeFileSync(join(volumeDir(options.stateDir, 'acme/keyed'), 'secret'), 'tenant data');
    await update('acme/keyed', 'backup_request', 'k1');
    await syncAndWait();
    expect(await backupStore.list('acme-tenant/uid-keyed')).toHaveLength(1);
    expect(await backupStore.list('acme/keyed')).toEqual([]);
    expect((await row('acme/keyed')).backups).toHaveLength(1);

    await createVolume('acme/keyed-copy', { restoreFrom: { volume: 'acme/keyed', backup: null, source: 'acme-tenant/uid-keyed' } });
    await syncAndWait();
    expect((await row('acme/keyed-copy')).phase).toBe('ready');
    expect(readFileSync(join(volumeDir(options.stateDir, 'acme/keyed-copy'), 'secret'), 'utf8')).toBe('tenant data');
    // The name alone reaches nothing: acme/source has backups by name, but the key resolved has none.
    await createVolume('acme/by-name', { restoreFrom: { volume: 'acme/source', backup: null, source: null } });
    await syncAndWait();
    expect(await row('acme/by-name')).toMatchObject({ phase: 'failed', message: expect.stringContaining('volume acme/source has no backup') });

    const release = (storeKey: string, node: string, pruneIn: string) => store.query({
      name: 'test.release_set',
      text: `insert into platform.backup_sets (store_key, tenant, volume_uid, volume_key, node, released_at, prune_after)
             values ($1, 'acme-tenant', 'u', 'acme/x', $2, now(), now() + $3::interval)`,
    }, [storeKey, node, pruneIn]);
    await release('acme-tenant/uid-keyed', NODE, '-1 second');
    await release('acme/source', NODE, '1 hour');
    await release('acme/nightly', AGENT_NODE, '-1 second');
    const kept = await backupStore.list('acme/source');
    const prune = { ...options, pruneIntervalMs: 0 };
    await (await syncVolumes(prune, state)).background;
    expect(await backupStore.list('acme-tenant/uid-keyed')).toEqual([]);
    expect(await backupStore.list('acme/source')).toEqual(kept);
    expect(await backupStore.list('acme/nightly')).toHaveLength(1); // another node's to prune
    const sets = await store.query<{ storeKey: string }>({ name: 'test.sets', text: 'select store_key as "storeKey" from platform.backup_sets order by 1' });
    expect(sets.map((r) => r.storeKey)).toEqual(['acme/nightly', 'acme/source']);
  });

  it('refuses keys that could leave the volumes folder', () => {
    for (const key of ['acme/../x', '../acme/x', 'acme/x/y', '/acme', 'acme/', 'acme/.hidden', 'Acme/x', 'acme']) {
      expect(() => volumeDir('/s', key), key).toThrow(RangeError);
    }
    expect(volumeDir('/s', 'acme/a.b-c')).toBe('/s/volumes/acme/a.b-c');
  });
});

/** A runtime that records what the agent asks for and runs nothing. */
class RecordingRuntime implements Runtime {
  readonly memoryEnforcement = 'rss-polling';
  readonly specs = new Map<string, InstanceSpec>();
  readonly logs: InstanceLogSource = { resume: () => {}, take: () => [], stored: () => {} };
  ensure(spec: InstanceSpec): void {
    this.specs.set(spec.id, spec);
  }
  async remove(id: string): Promise<void> {
    this.specs.delete(id);
  }
  list(): InstanceStatus[] {
    return [...this.specs.values()].map((s) => ({ id: s.id, phase: 'running', ready: true, restarts: 0, specHash: JSON.stringify(s) }));
  }
  onChange(): () => void {
    return () => {};
  }
  async close(): Promise<void> {}
}

describe('the node agent with volumes', () => {
  it('starts an instance only once its volume is ready here, woken by tend_volumes, with the directory in its env', async () => {
    const runtime = new RecordingRuntime();
    const stop = new AbortController();
    const stateDir = join(root, 'agent-n2');
    mkdirSync(stateDir); // as `tend agent` does
    await createVolume('acme/web-data', { node: null });
    await store.query(
      {
        name: 'test.insert_instance',
        text: `insert into platform.instances (id, app, tenant, revision, node, memory, cpu, spec, port)
               values ('acme.web-1-0', 'acme/web', 'acme', 'r1', $1, 268435456, 100, $2::jsonb, 41234)`,
      },
      [AGENT_NODE, JSON.stringify({ command: ['web'], env: { DATA_DIR: '/data/site' }, volumes: [{ volume: 'acme/web-data', mountPath: '/data' }] })],
    );
    // A long poll: only notifications wake the agent in time.
    const running = runNodeAgent({ node: AGENT_NODE, store, listenUrl: databaseUrl, runtime, memoryEnforcement: 'rss-polling', stateDir, backupStore, logger, heartbeatMs: 60_000, pollMs: 60_000 }, stop.signal);
    try {
      await eventually(async () => ((await store.query<{ phase: string }>({ name: 'test.instance_phase', text: `select phase from platform.instances where id = 'acme.web-1-0'` }))[0]?.phase === 'starting' ? true : undefined), { what: 'instance reported waiting' });
      expect(runtime.specs.size).toBe(0);

      await update('acme/web-data', 'node', AGENT_NODE);
      const spec = await eventually(() => runtime.specs.get('acme.web-1-0'), { what: 'instance started once its volume is ready' });
      const dir = volumeDir(stateDir, 'acme/web-data');
      expect(spec.env).toMatchObject({ DATA_DIR: `${dir}/site`, TEND_VOLUME_WEB_DATA: dir });
      expect((await row('acme/web-data')).phase).toBe('ready');
    } finally {
      stop.abort();
      await running;
    }
  });
});
