import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { MigrationError } from './migration-error.js';
import { readMigrationFiles, type MigrationFile } from './migration-files.js';
import type { NamedQuery } from './named-query.js';
import { QueryError } from './query-error.js';
import type { Store } from './store.js';

/** The framework's own migrations (`000001_core.sql` …): the `tend` track. */
export const frameworkMigrationsFolder: string = fileURLToPath(new URL('./migrations/', import.meta.url));

/**
 * One numbered sequence of migrations, recorded in its own table `<schema>.migrations`. Numbers
 * are unique within a track; two tracks may use the same numbers.
 */
export interface MigrationTrack {
  /** Folders of `NNNNNN_name.sql` files; one numbered sequence across all of them. */
  readonly folders: readonly string[];
  /**
   * PostgreSQL schema holding the track's `migrations` table (created when missing).
   * @default 'tend'
   */
  readonly schema?: string;
}

/** The framework's track: its own tables, recorded in `tend.migrations`. Migrate it before your own. */
export const frameworkMigrations: MigrationTrack = { folders: [frameworkMigrationsFolder], schema: 'tend' };

/**
 * What to apply: one track, or several in order (the framework's first, then each that builds on
 * it), e.g. `{ tracks: [frameworkMigrations, { folders: [myFolder], schema: 'widgets' }] }`.
 */
export type MigrateOptions = MigrationTrack | { readonly tracks: readonly MigrationTrack[] };

/** A migration this call applied. */
export type AppliedMigration = Omit<MigrationFile, 'sql'> & {
  /** The schema of the track it belongs to. */
  readonly track: string;
};

// 'tend' in ASCII. One key for every migrator of every schema: migrations are rare and short,
// so serialising them all costs nothing and cannot deadlock two tracks against each other.
const MIGRATE_LOCK_KEY = 0x74656e64;

// Lower-case identifiers only, so the quoted name below is the name users type unquoted.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

interface Track {
  readonly schema: string;
  readonly files: readonly MigrationFile[];
  readonly q: MigrationQueries;
}

/**
 * Applies the pending migrations of each track in number order, the tracks in the order given,
 * each file in its own transaction, and returns the ones this call applied (empty when another
 * replica got there first).
 *
 * Safe when many replicas start at once, including through a transaction-pooling PgBouncer:
 * each transaction first takes a transaction-scoped advisory lock (never a session lock, which
 * PgBouncer would leave on a connection some other client gets next), then inserts the version
 * row before running the file, so a concurrent migrator that got there first shows up as an
 * existing row and the file is skipped (graphile-worker's migrate.ts does the same).
 *
 * Upgrade from one shared sequence: before releases with tracks, tend recorded the framework's and
 * the platform's migrations in one table (`tend.migrations`). Given several tracks, a record in
 * one track's table that names a file of another track (same number and name) is moved, with its
 * checksum and time, to that track's table, in one transaction under the lock, before anything is
 * applied: so a database migrated the old way comes up with nothing run again.
 *
 * Throws `MigrationError`, applying nothing of a track, when an applied file's checksum changed,
 * when the database holds a migration newer than every file of the track (this code is older than
 * the schema), or when a new file is numbered below one already applied. A failing file rolls
 * back entirely.
 */
export async function migrate(store: Store, options: MigrateOptions): Promise<AppliedMigration[]> {
  const tracks = await readTracks('tracks' in options ? options.tracks : [options]);

  // `create … if not exists` is not safe against itself when run concurrently (both may pass
  // the check and one then fails on the catalog's unique index), hence the lock here too.
  await store.tx(async (tx) => {
    await tx.query(tracks[0]!.q.lock, [MIGRATE_LOCK_KEY]);
    for (const track of tracks) await tx.script(track.q.bootstrap);
    for (const to of tracks) {
      const versions = to.files.map((f) => f.version);
      const names = to.files.map((f) => f.name);
      for (const from of tracks) {
        if (from === to) continue;
        const moved = await tx.query(moveRecords(from.q, to.q), [versions, names]);
        if (moved.length > 0) {
          store.logger.info({ from: from.q.table, to: to.q.table, migrations: moved.length }, 'moved migration records to their own track');
        }
      }
    }
  });

  const done: AppliedMigration[] = [];
  for (const track of tracks) {
    const applied = await store.query<AppliedRow>(track.q.selectApplied);
    for (const file of pendingMigrations(track.files, applied, track.q.table)) {
      if (await applyOne(store, track.q, file)) {
        const { sql: _sql, ...migration } = file;
        done.push({ ...migration, track: track.schema });
      }
    }
  }
  return done;
}

/** Checks the tracks' schemas and folders and reads their files. */
async function readTracks(given: readonly MigrationTrack[]): Promise<Track[]> {
  if (given.length === 0) throw new MigrationError('migrate: no migration tracks given');
  const schemas = new Set<string>();
  const folders = new Map<string, string>();
  const tracks: Track[] = [];
  for (const track of given) {
    const schema = track.schema ?? 'tend';
    if (!SCHEMA_NAME.test(schema)) {
      throw new TypeError(`migrate: schema must be a lower-case PostgreSQL identifier (a-z, 0-9, _), got ${JSON.stringify(schema)}`);
    }
    if (schemas.has(schema)) throw new MigrationError(`migrate: two tracks record into ${schema}.migrations; give each track a schema of its own`);
    schemas.add(schema);
    for (const folder of track.folders.map((f) => resolve(f))) {
      const other = folders.get(folder);
      if (other !== undefined) throw new MigrationError(`migrate: folder ${folder} is in the tracks of both ${other} and ${schema}`);
      folders.set(folder, schema);
    }
    // The framework's numbers are the framework's: sharing its sequence would collide with its next release.
    if (track.folders.length > 1 && track.folders.some((f) => resolve(f) === resolve(frameworkMigrationsFolder))) {
      throw new MigrationError(
        "migrate: the framework's migrations are a track of their own; pass " +
          "{ tracks: [frameworkMigrations, { folders: [yours], schema: 'yours' }] } instead of one sequence with its folder",
      );
    }
    tracks.push({ schema, files: await readMigrationFiles(track.folders), q: migrationQueries(schema) });
  }
  return tracks;
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
      throw new MigrationError(
        `migration ${row.name} is recorded in ${table} but no folder has a file numbered ${pad(row.version)}; restore the file ` +
          '(or, if it is of another track, migrate every track in one call: { tracks: [...] })',
      );
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
  readonly schema: string;
  /** `schema.migrations`, for messages. */
  readonly table: string;
  /** The same, quoted for SQL. */
  readonly quotedTable: string;
  readonly lock: NamedQuery;
  readonly bootstrap: NamedQuery;
  readonly selectApplied: NamedQuery;
  readonly insertVersion: NamedQuery;
  readonly selectChecksum: NamedQuery;
}

const queriesBySchema = new Map<string, MigrationQueries>();
const moveQueries = new Map<string, NamedQuery>();

/**
 * Moves the records of `from`'s table that name a file of `to` (numbers $1, names $2) into `to`'s
 * table, keeping checksum and time; returns one row per record moved.
 */
function moveRecords(from: MigrationQueries, to: MigrationQueries): NamedQuery {
  const key = `${from.schema}>${to.schema}`;
  const cached = moveQueries.get(key);
  if (cached) return cached;
  const query: NamedQuery = {
    name: `tend.migrate_move.${from.schema}.${to.schema}`,
    text: `with moved as (
  delete from ${from.quotedTable} m
   using unnest($1::integer[], $2::text[]) as f(version, name)
   where m.version = f.version and m.name = f.name
  returning m.version, m.name, m.checksum, m.applied_at
)
insert into ${to.quotedTable} (version, name, checksum, applied_at)
select version, name, checksum, applied_at from moved
on conflict (version) do nothing
returning version`,
  };
  moveQueries.set(key, query);
  return query;
}

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
    schema,
    table: `${schema}.migrations`,
    quotedTable: table,
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
