import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { frameworkMigrationsFolder, migrate, MigrationError, Store, type NamedQuery } from '../../../../framework/store/index.js';
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
