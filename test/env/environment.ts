/**
 * The test environment: real etcd, kube-apiserver and PostgreSQL on free loopback ports in a
 * temporary folder, with tend's CRDs installed — what envtest does for controller-runtime, plus
 * the database tend keeps its truth in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveTestBinaries, type TestBinaries } from './binaries.js';
import { installCrds } from './crds.js';
import { startEtcd, type Etcd } from './etcd.js';
import { startKubeApiserver, type KubeApiserver } from './kube-apiserver.js';
import { startPostgres, type Postgres } from './postgres.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface TestEnvironment {
  readonly dir: string;
  readonly binaries: TestBinaries;
  readonly etcd: Etcd;
  readonly apiserver: KubeApiserver;
  readonly postgres: Postgres;
  /** Server log files by name, for showing when a test fails. */
  readonly logs: Readonly<Record<string, string>>;
  /** Stops every server (in reverse order of start) and removes the folder unless `keep`. */
  stop(options?: { keep?: boolean }): Promise<void>;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: (line: string) => void;
  /** Folder of CRD YAML files to install. @default crds/ of this repository */
  readonly crdsDir?: string;
  /** Server parameters of an embedded PostgreSQL (e.g. `{ max_connections: '20' }`); set DATABASE_URL to '' with them. */
  readonly postgresSettings?: Readonly<Record<string, string>>;
  /** More kube-apiserver flags, e.g. `--audit-log-path=…`. @default none */
  readonly apiserverArgs?: readonly string[];
}

/** Starts etcd, kube-apiserver and PostgreSQL, installs the CRDs; stops what started if a step fails. */
export async function startTestEnvironment(options: StartOptions = {}): Promise<TestEnvironment> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const binaries = await resolveTestBinaries({ env, log });
  const dir = mkdtempSync(join(tmpdir(), 'tend-testenv-'));
  const started: { stop(): Promise<void> }[] = [];
  try {
    const [etcd, postgres] = await Promise.all([
      startEtcd(binaries.etcd, dir).then((s) => (started.push(s), s)),
      startPostgres(dir, env.DATABASE_URL || undefined, options.postgresSettings).then((s) => (started.push(s), s)),
    ]);
    const apiserver = await startKubeApiserver(binaries.kubeApiserver, etcd.url, dir, options.apiserverArgs);
    started.push(apiserver);
    await installCrds(apiserver.kubeconfigPath, options.crdsDir ?? join(REPO_ROOT, 'crds'));
    const logs: Record<string, string> = { etcd: etcd.logFile, 'kube-apiserver': apiserver.logFile };
    if (postgres.logFile) logs.postgres = postgres.logFile;
    return {
      dir,
      binaries,
      etcd,
      apiserver,
      postgres,
      logs,
      async stop({ keep = false } = {}) {
        await apiserver.stop();
        await Promise.all([etcd.stop(), postgres.stop()]);
        if (!keep) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const server of started.reverse()) await server.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
