import { fileURLToPath } from 'node:url';
import type { MigrationTrack } from '../framework/index.js';

/**
 * The platform's migrations: a track of their own, recorded in `platform.migrations`, applied
 * after the framework's: `migrate(store, { tracks: [frameworkMigrations, platformMigrations] })`.
 * Until tracks existed both were one numbered sequence in `tend.migrations` (numbers 1–22 unique
 * across both folders); migrate() moves such records to their track.
 */
export const platformMigrations: MigrationTrack = { folders: [fileURLToPath(new URL('./', import.meta.url))], schema: 'platform' };
