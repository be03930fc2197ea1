import { appendFileSync, copyFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  frameworkMigrations, frameworkMigrationsFolder, migrate, MigrationError, readMigrationFiles, Store, type NamedQuery,
} from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { FreshDatabases } from '../../../env/fresh-database.js';

const fixtures = resolve(import.meta.dirname, '../../../fixtures/migrations');
const folder = (name: string): string => join(fixtures, name);

const databases = new FreshDatabases('tend_migrate');
const stores: Store[] = [];
const tempDirs: string[] = [];

async function freshStore(poolSize = 2): Promise<Store> {
  const store = new Store({ connectionString: await databases.create(), poolSize });
  stores.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
afterAll(() => databases.dropAll());

const selectVersions: NamedQuery = {
  name: 'test.select_versions',
  text: 'select version, name, checksum, applied_at from tend.migrations order by version',
};
const selectLedger: NamedQuery = { name: 'test.select_ledger', text: 'select note from public.ledger order by id' };
const selectWidgets: NamedQuery = { name: 'test.select_widgets', text: 'select id, label, colour from public.widgets' };
const tableExists: NamedQuery = { name: 'test.table_exists', text: 'select to_regclass($1) is not null as exists' };

async function exists(store: Store, table: string): Promise<boolean> {
  const [row] = await store.query<{ exists: boolean }>(tableExists, [table]);
  return row!.exists;
}

describe('migrate', () => {
  it('applies migrations from several folders in number order and records each with its checksum', async () => {
    const store = await freshStore();
    const applied = await migrate(store, { folders: [folder('extra'), folder('ordered')] });

    expect(applied.map((m) => m.name)).toEqual(['000001_create_widgets', '000002_add_colour', '000003_create_gadgets']);
    expect(await store.query(selectWidgets)).toEqual([{ id: 1, label: 'first', colour: 'red' }]);
    const rows = await store.query<{ version: number; name: string; checksum: string; applied_at: Date }>(selectVersions);
    expect(rows.map((r) => [r.version, r.name])).toEqual([
      [1, '000001_create_widgets'],
      [2, '000002_add_colour'],
      [3, '000003_create_gadgets'],
    ]);
    expect(rows.map((r) => r.checksum)).toEqual(applied.map((m) => m.checksum));
    for (const row of rows) {
      expect(row.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(row.applied_at).toBeInstanceOf(Date);
    }
  });

  it('applies nothing when run a second time', async () => {
    const store = await freshStore();
    await migrate(store, { folders: [folder('ordered')] });
    const before = await store.query(selectVersions);

    expect(await migrate(store, { folders: [folder('ordered')] })).toEqual([]);
    expect(await store.query(selectVersions)).toEqual(before);
    expect(await store.query(selectWidgets)).toHaveLength(1);
  });

  it('applies each migration exactly once when ten replicas migrate at the same moment', async () => {
    const url = await databases.create();
    const replicas = Array.from({ length: 10 }, () => new Store({ connectionString: url, poolSize: 2 }));
    stores.push(...replicas);

    const results = await Promise.all(replicas.map((store) => migrate(store, { folders: [folder('once')] })));

    expect(results.flat().map((m) => m.version).sort()).toEqual([1, 2, 3]);
    const store = replicas[0]!;
    expect(await store.query(selectLedger)).toEqual([{ note: '000002 ran' }, { note: '000003 ran' }]);
    expect((await store.query<{ version: number }>(selectVersions)).map((r) => r.version)).toEqual([1, 2, 3]);
  });

  it('refuses to start when an applied migration file has changed, naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tend-migrations-'));
    tempDirs.push(dir);
    cpSync(folder('ordered'), dir, { recursive: true });
    const store = await freshStore();
    await migrate(store, { folders: [dir] });

    const changed = join(dir, '000002_add_colour.sql');
    appendFileSync(changed, '-- an innocent-looking edit\n');
    const error = await migrate(store, { folders: [dir] }).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).message).toContain(changed);
    expect((error as MigrationError).message).toContain('changed after it was applied');
    expect((error as MigrationError).file).toBe(changed);
  });

  it('refuses to start when the database has a migration newer than every file', async () => {
    const store = await freshStore();
    await migrate(store, { folders: [folder('ordered'), folder('extra')] });

    const error = await migrate(store, { folders: [folder('ordered')] }).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(/database is ahead of this code.*000003_create_gadgets/);
  });

  it('refuses a new migration numbered below one already applied', async () => {
    const store = await freshStore();
    await migrate(store, { folders: [folder('extra')] });

    const error = await migrate(store, { folders: [folder('ordered'), folder('extra')] }).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toContain(join(folder('ordered'), '000001_create_widgets.sql'));
    expect(await exists(store, 'public.widgets')).toBe(false);
  });

  it('rolls a failing migration back entirely, version row included, and names the file and line', async () => {
    const store = await freshStore();
    const failing = join(folder('failing'), '000002_half_done.sql');

    const error = await migrate(store, { folders: [folder('failing')] }).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toContain(failing);
    expect((error as Error).message).toMatch(/no_such_table.*\(line 3\)/);
    expect(await exists(store, 'public.before_failure')).toBe(true);
    expect(await exists(store, 'public.half_done')).toBe(false);
    expect((await store.query<{ version: number }>(selectVersions)).map((r) => r.version)).toEqual([1]);
  });

  it('rejects two files with the same number, naming both', async () => {
    const store = await freshStore();

    const error = await migrate(store, { folders: [folder('duplicate-a'), folder('duplicate-b')] }).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toContain(join(folder('duplicate-a'), '000001_first.sql'));
    expect((error as Error).message).toContain(join(folder('duplicate-b'), '000001_second.sql'));
  });

  it('records into another schema when asked', async () => {
    const store = await freshStore();
    await migrate(store, { folders: [folder('ordered')], schema: 'tend_other' });

    expect(await exists(store, 'tend_other.migrations')).toBe(true);
    expect(await exists(store, 'tend.migrations')).toBe(false);
    await expect(migrate(store, { folders: [folder('ordered')], schema: 'Bad-Name' })).rejects.toThrow(/lower-case PostgreSQL identifier/);
  });

  it("applies the framework's own migrations, which create the tend schema", async () => {
    const store = await freshStore();
    const applied = await migrate(store, { folders: [frameworkMigrationsFolder] });

    expect(applied[0]?.name).toBe('000001_core');
    expect(await exists(store, 'tend.migrations')).toBe(true);
  });
});

interface Recorded {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
  readonly applied_at: Date;
}

const recorded = (store: Store, table: string): Promise<Recorded[]> =>
  store.query<Recorded>({ name: `test.recorded.${table}`, text: `select version, name, checksum, applied_at from ${table} order by version` });

describe('migrate with tracks', () => {
  it('records each track in its own table, in order, and the numbers of one may repeat in another', async () => {
    const store = await freshStore();
    const applied = await migrate(store, { tracks: [{ folders: [folder('ordered')], schema: 'tend_a' }, { folders: [folder('once')], schema: 'tend_b' }] });

    expect(applied.map((m) => `${m.track}:${m.name}`)).toEqual([
      'tend_a:000001_create_widgets',
      'tend_a:000002_add_colour',
      'tend_b:000001_create_ledger',
      'tend_b:000002_record_once',
      'tend_b:000003_record_again',
    ]);
    expect((await recorded(store, 'tend_a.migrations')).map((r) => r.name)).toEqual(['000001_create_widgets', '000002_add_colour']);
    expect((await recorded(store, 'tend_b.migrations')).map((r) => r.name)).toEqual(['000001_create_ledger', '000002_record_once', '000003_record_again']);
    expect(await migrate(store, { tracks: [{ folders: [folder('ordered')], schema: 'tend_a' }, { folders: [folder('once')], schema: 'tend_b' }] })).toEqual([]);
  });

  it("refuses the framework's folder in one sequence with another, and two tracks in one table", async () => {
    const store = await freshStore();

    await expect(migrate(store, { folders: [frameworkMigrationsFolder, folder('extra')] })).rejects.toThrow(/framework's migrations are a track of their own/);
    await expect(migrate(store, { tracks: [{ folders: [folder('ordered')] }, { folders: [folder('extra')] }] })).rejects.toThrow(/two tracks record into tend\.migrations/);
    await expect(migrate(store, { tracks: [{ folders: [folder('ordered')], schema: 'tend_a' }, { folders: [folder('ordered')], schema: 'tend_b' }] })).rejects.toThrow(
      /is in the tracks of both tend_a and tend_b/,
    );
    expect(await exists(store, 'tend.migrations')).toBe(false);
  });

  it('brings a database migrated as one sequence (before tracks) into the two tracks, with nothing lost and nothing run again, ten replicas at once', async () => {
    // The layout before tracks: the framework's and the platform's files numbered in one
    // sequence, all recorded in tend.migrations — what migrate() did with one track holding both
    // folders. Here a release of that time: every file up to 000020.
    const oldRelease = mkdtempSync(join(tmpdir(), 'tend-old-release-'));
    tempDirs.push(oldRelease);
    const frameworkFiles = await readMigrationFiles(frameworkMigrations.folders);
    const platformFiles = await readMigrationFiles(platformMigrations.folders);
    for (const file of [...frameworkFiles, ...platformFiles].filter((f) => f.version <= 20)) copyFileSync(file.file, join(oldRelease, basename(file.file)));
    const url = await databases.create();
    const old = new Store({ connectionString: url, poolSize: 2 });
    stores.push(old);
    await migrate(old, { folders: [oldRelease] });
    const before = await recorded(old, 'tend.migrations');
    expect(before.map((r) => r.version)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // Data of both: a framework row and a platform row.
    await old.query({ name: 'test.insert_member', text: `insert into tend.members (name, active_at, expires_at) values ('old-replica', now(), now() + interval '1 hour')` });
    await old.query({ name: 'test.insert_claim', text: `insert into platform.namespace_claims (namespace, tenant, tenant_uid, claimed_at) values ('shop', 'acme', 'u1', now())` });

    // The new release starts: ten replicas at once, each with both tracks.
    const replicas = Array.from({ length: 10 }, () => new Store({ connectionString: url, poolSize: 2 }));
    stores.push(...replicas);
    const results = await Promise.all(replicas.map((store) => migrate(store, { tracks: [frameworkMigrations, platformMigrations] })));

    // Only the files newer than the old release ran, each once, into its own track.
    const newer = (files: typeof frameworkFiles, track: string) => files.filter((f) => f.version > 20).map((f) => `${track}:${f.name}`);
    expect(results.flat().map((m) => `${m.track}:${m.name}`).sort()).toEqual([...newer(frameworkFiles, 'tend'), ...newer(platformFiles, 'platform')].sort());
    const framework = await recorded(old, 'tend.migrations');
    const platform = await recorded(old, 'platform.migrations');
    expect(framework.map((r) => r.name)).toEqual(frameworkFiles.map((f) => f.name));
    expect(platform.map((r) => r.name)).toEqual(platformFiles.map((f) => f.name));
    // The old records moved as they were: same checksum, same time (not applied again).
    const moved = [...framework, ...platform].filter((r) => r.version <= 20).sort((a, b) => a.version - b.version);
    expect(moved).toEqual(before);
    expect(await old.query({ name: 'test.select_member', text: `select name from tend.members where name = 'old-replica'` })).toEqual([{ name: 'old-replica' }]);
    expect(await old.query({ name: 'test.select_claim', text: `select tenant from platform.namespace_claims where namespace = 'shop'` })).toEqual([{ tenant: 'acme' }]);
    // And the next start finds nothing to do.
    expect(await migrate(old, { tracks: [frameworkMigrations, platformMigrations] })).toEqual([]);
  });

  it('tells a caller that migrates only one track of a database migrated as one sequence what to do', async () => {
    const store = await freshStore();
    await migrate(store, { folders: [folder('ordered'), folder('extra')] });

    const error = await migrate(store, { folders: [folder('ordered')], schema: 'tend' }).catch((err: unknown) => err);
    expect((error as Error).message).toMatch(/database is ahead of this code/);
    await migrate(store, { tracks: [{ folders: [folder('ordered')] }, { folders: [folder('extra')], schema: 'tend_extra' }] });
    expect((await recorded(store, 'tend_extra.migrations')).map((r) => r.name)).toEqual(['000003_create_gadgets']);
  });
});
