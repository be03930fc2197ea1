/**
 * Finds or builds bench/reference (the controller-runtime Tenant controller bench/reconcile.ts
 * measures tend against), as test/env/binaries.ts does for the test servers: cached under
 * ~/.cache/tend/bench-reference keyed by the hash of go.mod, go.sum and main.go, built into a
 * temporary file renamed into place, so an interrupted or concurrent build leaves no half binary.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const moduleDir = join(dirname(fileURLToPath(import.meta.url)), 'reference');
const SOURCES = ['go.mod', 'go.sum', 'main.go'];

/** The path of the reference controller binary, built with the machine's Go the first time. */
export async function referenceBinary(log: (line: string) => void = () => {}): Promise<string> {
  const hash = createHash('sha256');
  for (const file of SOURCES) hash.update(readFileSync(join(moduleDir, file)));
  const cacheRoot = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tend', 'bench-reference');
  const binary = join(cacheRoot, `tenant-reference-${hash.digest('hex').slice(0, 12)}`);
  if (existsSync(binary)) return binary;
  mkdirSync(cacheRoot, { recursive: true });
  const tmp = mkdtempSync(`${binary}.build-`);
  const started = Date.now();
  log(`building the controller-runtime reference into ${binary} (first run only)`);
  try {
    await run('go', ['build', '-o', join(tmp, 'tenant-reference'), '.'], { cwd: moduleDir, maxBuffer: 64 << 20 });
    renameSync(join(tmp, 'tenant-reference'), binary);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`building bench/reference failed (needs Go ≥ 1.26 on PATH): ${(err as Error).message}\n${stderr}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  log(`built the reference in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return binary;
}
