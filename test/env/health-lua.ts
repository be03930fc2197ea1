/**
 * Runs Argo CD health scripts in the Lua VM Argo CD runs them in: gopher-lua, through the small
 * Go program in `health-lua/` (see its main.go for what it opens and why).
 *
 * Built once with the machine's Go into the same cache as the test binaries, keyed by the hash of
 * the program and its go.mod/go.sum; a build goes to a temporary file renamed into place, so an
 * interrupted or concurrent build never leaves a half-written binary.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const programDir = join(dirname(fileURLToPath(import.meta.url)), 'health-lua');

/** What Argo CD makes of one health script for one object. */
export type HealthResult = { readonly status: string; readonly message?: string } | { readonly error: string };

/** One script and the object (`obj` in Lua) to run it on. */
export interface HealthCase {
  readonly script: string;
  readonly object: unknown;
}

/** Path of the harness binary, building it first if this version is not in the cache. */
export async function resolveHealthLua(options: { readonly env?: NodeJS.ProcessEnv; readonly log?: (line: string) => void } = {}): Promise<string> {
  const env = options.env ?? process.env;
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(join(programDir, file)));
  const cache = join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tend', 'test-binaries');
  const binary = join(cache, `health-lua-${hash.digest('hex').slice(0, 12)}`);
  if (existsSync(binary)) return binary;
  mkdirSync(cache, { recursive: true });
  const tmp = `${binary}.build-${process.pid}`;
  options.log?.(`building the Argo CD Lua health harness (gopher-lua) into ${binary}`);
  try {
    await run('go', ['build', '-o', tmp, '.'], { cwd: programDir, env, maxBuffer: 16 << 20 });
    renameSync(tmp, binary);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`building test/env/health-lua failed (needs Go ≥ 1.26 on PATH): ${(err as Error).message}\n${stderr}`);
  } finally {
    rmSync(tmp, { force: true });
  }
  return binary;
}

/** Runs every case in one harness process; results in the order of `cases`. */
export async function runHealthScripts(cases: readonly HealthCase[]): Promise<HealthResult[]> {
  const binary = await resolveHealthLua();
  const child = execFile(binary, [], { maxBuffer: 64 << 20 });
  const output = new Promise<string>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`health-lua exited ${code}: ${stderr}`))));
  });
  child.stdin!.end(JSON.stringify({ cases }));
  return (JSON.parse(await output) as { results: HealthResult[] }).results;
}
