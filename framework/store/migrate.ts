import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { MigrationError } from './migration-error.js';
import { readMigrationFiles, type MigrationFile } from './migration-files.js';
import type { NamedQuery } from './named-query.js';
import { QueryError } from './query-error.js';
import type { Store } from './store.js';

/** The framework's own migrations (`000001_core.sql` …); pass it first in `folders`. */
export const frameworkMigrationsFolder: string = fileURLToPath(new URL('./migrations/', import.meta.url));

/** What to apply and where to record it. */
export interface MigrateOptions {
  /** Folders of `NNNNNN_name.sql` files; one numbered sequence across all of them. */
  readonly folders: readonly string[];
  /**
   * PostgreSQL schema holding the `migrations` table (created when missing).
   * @default 'tend'
   */
  readonly schema?: string;
}

/** A migration this call applied. */
export type AppliedMigration = Omit<MigrationFile, 'sql'>;

// 'tend' in ASCII. One key for every migrator of every schema: migrations are rare and short,
// so serialising them all costs nothing and cannot deadlock two tracks against each other.
const MIGRATE_LOCK_KEY = 0x74656e64;

// Lower-case identifiers only, so the quoted name below is the name users type unquoted.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Applies the pending migrations of `folders` in number order, each in its own transaction, and
 * returns the ones this call applied (empty when another replica got there first).
 *
 * Safe when many replicas start at once, including through a transaction-pooling PgBouncer:
 * each transaction first takes a transaction-scoped advisory lock (never a session lock, which
 * PgBouncer would leave on a connection some other client gets next), then inserts the version
 * row before running the file, so a concurrent migrator that got there first shows up as an
 * existing row and the file is skipped (graphile-worker's migrate.ts does the same).
 *
 * Throws `MigrationError`, applying nothing, when an applied file's checksum changed, when the
 * database holds a migration newer than every file (this code is older than the schema), or when
 * a new file is numbered below one already applied. A failing file rolls back entirely.
 */
export async function migrate(store: Store, options: MigrateOptions): Promise<AppliedMigration[]> {
  const schema = options.schema ?? 'tend';
  if (!SCHEMA_NAME.test(schema)) {
    throw new TypeError(`migrate: schema must be a lower-case PostgreSQL identifier (a-z, 0-9, _), got ${JSON.stringify(schema)}`);
  }
  const files = await readMigrationFiles(options.folders);
  const q = migrationQueries(schema);

  // `create … if not exists` is not safe against itself when run concurrently (both may pass
  // the check and one then fails on the catalog's unique index), hence the lock here too.
  await store.tx(async (tx) => {
    await tx.query(q.lock, [MIGRATE_LOCK_KEY]);
    await tx.script(q.bootstrap);
  });
  const applied = await store.query<AppliedRow>(q.selectApplied);
  const pending = pendingMigrations(files, applied, `${schema}.migrations`);

  const done: AppliedMigration[] = [];
  for (const file of pending) {
    if (await applyOne(store, q, file)) {
      const { sql: _sql, ...migration } = file;
      done.push(migration);
    }
  }
  return done;
}

interface AppliedRow {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
}

/** The files not yet applied, after checking that the applied ones still match their files. */
function pendingMigrations(files: readonly MigrationFile[], applied: readonly AppliedRow[], table: string): MigrationFile[] {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  const newestFile = files.at(-1);
  const newestApplied = applied.at(-1);
  if (newestApplied && (!newestFile || newestApplied.version > newestFile.version)) {
    throw new MigrationError(
      `the database is ahead of this code: ${table} records migration ${newestApplied.name}, newer than every file ` +
        `(newest: ${newestFile?.file ?? 'none'}); run the release that contains it, or restore the database`,
    );
  }
  for (const row of applied) {
    const file = byVersion.get(row.version);
    if (!file) {
      throw new MigrationError(`migration ${row.name} is recorded in ${table} but no folder has a file numbered ${pad(row.version)}; restore the file`);
    }
    if (file.checksum !== row.checksum) throw changedError(file, row.checksum, table);
  }
  const appliedVersions = new Set(applied.map((row) => row.version));
  const pending = files.filter((f) => !appliedVersions.has(f.version));
  const late = newestApplied && pending.find((f) => f.version < newestApplied.version);
  if (late && newestApplied) {
    throw new MigrationError(
      `migration file ${late.file} is numbered below ${newestApplied.name}, which is already applied; ` +
        `migrations are forward-only: renumber it above ${pad(newestApplied.version)}`,
      late.file,
    );
  }
  return pending;
}

/** Applies one file in one transaction; false when another migrator had already applied it. */
async function applyOne(store: Store, q: MigrationQueries, file: MigrationFile): Promise<boolean> {
  const started = performance.now();
  let ran: boolean;
  try {
    ran = await store.tx(async (tx) => {
      await tx.query(q.lock, [MIGRATE_LOCK_KEY]);
      // The version row goes in first, so that a concurrent migrator finds it.
      const inserted = await tx.query(q.insertVersion, [file.version, file.name, file.checksum]);
      if (inserted.length === 0) {
        const [row] = await tx.query<{ checksum: string }>(q.selectChecksum, [file.version]);
        if (row && row.checksum !== file.checksum) throw changedError(file, row.checksum, q.table);
        return false;
      }
      await tx.script({ name: `migration ${file.name}`, text: file.sql });
      return true;
    });
  } catch (err) {
    if (err instanceof MigrationError) throw err;
    throw new MigrationError(`migration ${file.file} failed and was rolled back: ${reasonOf(err, file.sql)}`, file.file, { cause: err });
  }
  if (ran) store.logger.info({ version: file.version, migration: file.name, durationMs: Math.round(performance.now() - started) }, 'applied migration');
  return ran;
}

function changedError(file: MigrationFile, recorded: string, table: string): MigrationError {
  return new MigrationError(
    `migration file ${file.file} changed after it was applied (sha256 ${recorded.slice(0, 12)}… in ${table}, ` +
      `${file.checksum.slice(0, 12)}… on disk); migrations are forward-only: restore the file and add a new migration`,
    file.file,
  );
}

/** PostgreSQL's message, plus the line in the file when the server gave a position. */
function reasonOf(err: unknown, sql: string): string {
  const cause = err instanceof QueryError ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  const position = Number((cause as { position?: unknown } | null)?.position);
  if (!Number.isInteger(position) || position < 1) return message;
  const line = sql.slice(0, position - 1).split('\n').length;
  return `${message} (line ${line})`;
}

function pad(version: number): string {
  return String(version).padStart(6, '0');
}

interface MigrationQueries {
  readonly table: string;
  readonly lock: NamedQuery;
  readonly bootstrap: NamedQuery;
  readonly selectApplied: NamedQuery;
  readonly insertVersion: NamedQuery;
  readonly selectChecksum: NamedQuery;
}

const queriesBySchema = new Map<string, MigrationQueries>();

/**
 * The migrator's queries for one schema. Identifiers cannot be bind parameters, so the schema is
 * the one thing spliced in: checked against SCHEMA_NAME and quoted. Query names carry the schema
 * because pg refuses one prepared name for two texts on a connection.
 */
function migrationQueries(schema: string): MigrationQueries {
  const cached = queriesBySchema.get(schema);
  if (cached) return cached;
  const id = pg.escapeIdentifier(schema);
  const table = `${id}.migrations`;
  const name = (what: string): string => (schema === 'tend' ? `tend.migrate_${what}` : `tend.migrate_${what}.${schema}`);
  const queries: MigrationQueries = {
    table: `${schema}.migrations`,
    lock: { name: 'tend.migrate_lock', text: 'select pg_advisory_xact_lock($1)' },
    bootstrap: {
      name: name('bootstrap'),
      text: `create schema if not exists ${id};
create table if not exists ${table} (
  version integer primary key,
  name text not null,
  checksum text not null,
  applied_at timestamptz not null default now()
);`,
    },
    selectApplied: { name: name('select_applied'), text: `select version, name, checksum from ${table} order by version` },
    insertVersion: {
      name: name('insert_version'),
      text: `insert into ${table} (version, name, checksum) values ($1, $2, $3) on conflict (version) do nothing returning version`,
    },
    selectChecksum: { name: name('select_checksum'), text: `select checksum from ${table} where version = $1` },
  };
  queriesBySchema.set(schema, queries);
  return queries;
}
