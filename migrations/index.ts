import { fileURLToPath } from 'node:url';

/** The platform's migrations (numbered in one sequence with the framework's own). */
export const platformMigrationsFolder: string = fileURLToPath(new URL('./', import.meta.url));
