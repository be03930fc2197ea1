/**
 * No perpetual OutOfSync in Argo CD: after tend's controllers (and a node agent) have converged on
 * the objects in examples/, `kubectl diff -f examples/` — a server-side dry run of the same apply,
 * what Argo CD's diff amounts to — shows nothing, because the controllers write only status (and
 * their own finalizers), never the spec or the user's metadata.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceType } from '../../../api/resource-types.js';
import { publishCertificatesPublicKey } from '../../../certificates/certificates-key.js';
import { LocalCa } from '../../../certificates/local-ca.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { generateSealingKey } from '../../../secrets/seal.js';
import { KubeClient, type Resource } from '../../../framework/client/index.js';
import { findCondition, type Condition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { REPO_ROOT, startTestEnvironment, type TestEnvironment } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import { platformClients } from '../../env/platform-clients.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';

const run = promisify(execFile);
const logger = createLogger({ level: 'warn' });
let env: TestEnvironment;
let store: Store;
let agent: ServerProcess | undefined;
const stop = new AbortController();
let running: Promise<void> | undefined;

/** kubectl against the test API server: exit code and output, without throwing on exit 1 (diff found). */
async function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(env.binaries.kubectl!, ['--kubeconfig', env.apiserver.kubeconfigPath, ...args], { cwd: REPO_ROOT, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

beforeAll(async () => {
  env = await startTestEnvironment();
  store = new Store({ connectionString: env.postgres.databaseUrl, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  const { kubeConfig } = platformClients(env.apiserver.kubeconfigPath);
  // The hello Route's tls.issuer: local, as `tend run --local-ca-dir DIR` gives it (and a published certificates key).
  await publishCertificatesPublicKey(store, generateSealingKey());
  const { ca } = await LocalCa.loadOrCreate(join(env.dir, 'local-ca'));
  running = buildPlatform({ kubeConfig, store, logger, replica: 'test', membership: false, cluster: { heartbeatMs: 1_000 }, issuers: [ca] }).start(stop.signal);
  // examples/node.yaml's Node, with its agent: the Apps run for real and their status settles.
  const credentials = await enrolledCredentials(env.postgres.databaseUrl, 'node', 'local', env.dir);
  agent = startTend('agent-local', ['agent', '--node', 'local', '--credentials-file', credentials, '--state-dir', mkdtempSync(join(tmpdir(), 'tend-agent-local-')), '--heartbeat-ms', '1000', '--poll-ms', '1000'], join(env.dir, 'agent-local.log'));
}, 120_000);

afterAll(async () => {
  if (env) await kubectl('delete', '-n', 'default', '-f', 'examples/', '--wait=false');
  await agent?.stop();
  stop.abort();
  await running;
  await store?.close();
  await env?.stop();
});

describe('kubectl diff -f examples/ after convergence', () => {
  it('shows nothing: the controllers change no field the examples set', async () => {
    const applied = await kubectl('apply', '-n', 'default', '-f', 'examples/');
    expect(applied.stderr).toBe('');
    const { kubeConfig } = platformClients(env.apiserver.kubeconfigPath);
    const objects: [string, string][] = [['Tenant', 'demo'], ['Node', 'local'], ['App', 'default/hello'], ['App', 'default/counter'], ['Route', 'default/hello'], ['Route', 'default/counter'], ['Volume', 'default/counter-data']];
    for (const [kind, key] of objects) {
      const client = new KubeClient<Resource & { status?: { observedGeneration?: number; conditions?: Condition[] } }>(resourceType(kind as never), kubeConfig);
      await eventually(async () => {
        const o = await client.get(key as Key);
        if (o?.status?.observedGeneration === o?.metadata.generation && findCondition(o?.status?.conditions, 'Ready')?.status === 'True') return true;
        throw new Error(`${kind} ${key}: ${JSON.stringify(o?.status?.conditions?.map((c) => `${c.type}=${c.status} ${c.reason}`))}`);
      }, { what: `${kind} ${key} Ready`, timeoutMs: 60_000 });
    }
    const diff = await kubectl('diff', '-n', 'default', '-f', 'examples/');
    expect(diff.stderr).toBe('');
    expect(diff.stdout).toBe('');
    expect(diff.code).toBe(0);
  }, 120_000);
});
