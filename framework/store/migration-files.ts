import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { MigrationError } from './migration-error.js';

/** One `NNNNNN_name.sql` file, read and hashed. */
export interface MigrationFile {
  /** The number before the underscore; unique across the folders of its track. */
  readonly version: number;
  /** `000001_core`: the file name without `.sql`. */
  readonly name: string;
  /** Absolute path, for messages. */
  readonly file: string;
  /** sha256 of the file's bytes, hex. */
  readonly checksum: string;
  readonly sql: string;
}

// Six digits keep `ls` order equal to numeric order up to 999999.
const FILE_NAME = /^(\d{6})_([A-Za-z0-9_-]+)\.sql$/;

/** Reads every `.sql` file of `folders`, ordered by version; throws `MigrationError` on a bad name or a duplicate number. */
export async function readMigrationFiles(folders: readonly string[]): Promise<MigrationFile[]> {
  if (folders.length === 0) throw new MigrationError('migrate: no migration folders given');
  const byVersion = new Map<number, MigrationFile>();
  for (const folder of folders) {
    const dir = resolve(folder);
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (err) {
      throw new MigrationError(`cannot read migrations folder ${dir}: ${(err as Error).message}`, undefined, { cause: err });
    }
    for (const entry of entries.sort()) {
      // Other files (README.md) may live beside the migrations; a .sql file must follow the pattern,
      // since a misnamed one would otherwise be skipped without a word.
      if (!entry.endsWith('.sql')) continue;
      const file = join(dir, entry);
      const match = FILE_NAME.exec(entry);
      if (!match) {
        throw new MigrationError(`migration file ${file} is not named NNNNNN_name.sql (six digits, underscore, letters/digits/_/-)`, file);
      }
      const version = Number(match[1]);
      if (version === 0) throw new MigrationError(`migration file ${file}: numbers start at 000001`, file);
      const bytes = await readFile(file);
      const migration: MigrationFile = {
        version,
        name: basename(entry, '.sql'),
        file,
        checksum: createHash('sha256').update(bytes).digest('hex'),
        sql: bytes.toString('utf8'),
      };
      const other = byVersion.get(version);
      if (other) {
        throw new MigrationError(`migration number ${match[1]} is used twice: ${other.file} and ${file}; numbers are unique within a track (across its folders)`, file);
      }
      byVersion.set(version, migration);
    }
  }
  return [...byVersion.values()].sort((a, b) => a.version - b.version);
}
