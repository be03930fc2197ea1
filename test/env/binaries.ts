/**
 * Finds or builds the real etcd, kube-apiserver and kubectl that the test environment runs.
 *
 * Order: `TEND_TEST_BINARIES`, then `KUBEBUILDER_ASSETS` (controller-runtime envtest users already
 * have one), then a cache folder keyed by the hash of `servers/go.mod` + `go.sum`, built with the
 * machine's Go the first time. The build goes to a temporary folder renamed into place at the end,
 * so an interrupted or concurrent build never leaves a half-written cache.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, mkdtempSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const serversModule = join(dirname(fileURLToPath(import.meta.url)), 'servers');

/** The pinned release; also stamped into the binaries so `kubectl version` tells the truth. */
export const KUBERNETES_VERSION = 'v1.36.3';

export interface TestBinaries {
  readonly etcd: string;
  readonly kubeApiserver: string;
  /** Absent when the binaries come from a folder without kubectl (envtest assets may lack it). */
  readonly kubectl?: string;
  /** Where they came from, for the start-up log. */
  readonly source: string;
}

export interface ResolveOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: (line: string) => void;
}

/** Returns paths to the three binaries, building them once if no folder provides them. */
export async function resolveTestBinaries(options: ResolveOptions = {}): Promise<TestBinaries> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  for (const variable of ['TEND_TEST_BINARIES', 'KUBEBUILDER_ASSETS'] as const) {
    const dir = env[variable];
    if (dir) return fromFolder(dir, `${variable}=${dir}`);
  }
  const dir = join(cacheRoot(env), `${KUBERNETES_VERSION}-${moduleHash()}`);
  if (!existsSync(join(dir, 'kube-apiserver'))) await build(dir, env, log);
  return fromFolder(dir, `cache ${dir}`);
}

function fromFolder(dir: string, source: string): TestBinaries {
  const path = (name: string) => join(dir, name);
  for (const name of ['etcd', 'kube-apiserver']) {
    if (!existsSync(path(name))) throw new Error(`${source}: ${name} not found in ${dir}`);
  }
  return {
    etcd: path('etcd'),
    kubeApiserver: path('kube-apiserver'),
    ...(existsSync(path('kubectl')) ? { kubectl: path('kubectl') } : {}),
    source,
  };
}

function cacheRoot(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tend', 'test-binaries');
}

function moduleHash(): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum']) hash.update(readFileSync(join(serversModule, file)));
  return hash.digest('hex').slice(0, 12);
}

async function build(dir: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = mkdtempSync(`${dir}.build-`);
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  const stamp = [
    `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
    `-X k8s.io/component-base/version.gitMajor=${major}`,
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
    `-X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION}`,
    `-X k8s.io/client-go/pkg/version.gitMajor=${major}`,
    `-X k8s.io/client-go/pkg/version.gitMinor=${minor}`,
  ].join(' ');
  const started = Date.now();
  log(`building etcd, kube-apiserver and kubectl ${KUBERNETES_VERSION} with Go into ${dir} (first run only; a few minutes)`);
  const go = (args: string[]) =>
    run('go', args, { cwd: serversModule, env, maxBuffer: 64 << 20 });
  try {
    await go(['build', '-ldflags', stamp, '-o', `${tmp}/`,
      'k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kubectl']);
    await go(['build', '-o', join(tmp, 'etcd'), 'go.etcd.io/etcd/server/v3']);
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another run finished the same build first: theirs is as good as ours.
      if (!existsSync(join(dir, 'kube-apiserver'))) throw err;
    }
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`building the test binaries failed (needs Go ≥ 1.26 on PATH): ${(err as Error).message}\n${stderr}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  log(`built the test binaries in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
