/**
 * Which files `-f PATH` means: a file as given, or every *.yaml / *.yml below a folder, in a
 * stable (sorted) order so that later documents are updates of earlier ones predictably.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Thrown when a path does not exist or a folder holds no YAML files. */
export class ManifestPathError extends Error {
  override name = 'ManifestPathError';
}

/** The manifest files a path stands for. */
export function findManifestFiles(path: string): string[] {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    throw new ManifestPathError(`${path}: no such file or directory`);
  }
  if (!stats.isDirectory()) return [path];
  const files = walk(path);
  if (files.length === 0) throw new ManifestPathError(`${path}: no .yaml or .yml files in this folder`);
  return files;
}

function walk(dir: string): string[] {
  const files: string[] = [];
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...walk(path));
    else if (entry.isFile() && /\.ya?ml$/.test(entry.name)) files.push(path);
  }
  return files;
}
