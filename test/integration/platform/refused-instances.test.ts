/**
 * An App its node cannot run says why, all the way up: the agent refuses the instance (an image,
 * and this node runs processes only), the App reports `Ready=False RuntimeUnavailable` with the
 * agent's message, and `tend why app/NAME` shows it — while another App on the same node runs.
 * Real parts: the controllers on the PostgreSQL backend, a `tend agent` process with its own login.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runApply } from '../../../cli/apply.js';
import { runDelete } from '../../../cli/delete.js';
import type { CliIo } from '../../../cli/io.js';
import { runWhy } from '../../../cli/why.js';
import { contains, parseIpv6, parsePrefix } from '../../../overlay/addresses.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { findCondition, type Condition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('refused');
let dir: string;
let url: string;
let store: Store;
let agent: ServerProcess | undefined;
const stop = new AbortController();
let running: Promise<void> | undefined;

async function run(verb: (args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv) => Promise<number>, args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await verb(args, { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: () => '' }, {});
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const YAML = `apiVersion: tend.dev/v1alpha1
kind: Tenant
metadata: { name: acme }
spec: { namespaces: [default], allowedHostnames: ["*.acme.test"] }
---
apiVersion: tend.dev/v1alpha1
kind: Node
metadata: { name: n1 }
spec: { address: 127.0.0.1, capacity: { cpu: "2", memory: 2Gi, disk: 10Gi } }
---
apiVersion: tend.dev/v1alpha1
kind: App
metadata: { name: vm, namespace: default }
spec: { replicas: 1, image: "ghcr.io/acme/web:1.4", port: 8080, resources: { memory: 64Mi, cpu: 100m } }
---
apiVersion: tend.dev/v1alpha1
kind: App
metadata: { name: hello, namespace: default }
spec:
  replicas: 1
  command: [${JSON.stringify(process.execPath)}, examples/hello-server.mjs]
  resources: { memory: 64Mi, cpu: 100m }
  healthCheck: { httpGet: { path: /healthz }, periodSeconds: 1 }
`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tend-refused-'));
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  running = buildPlatform({ store, logger, replica: 'refused', membership: false, cluster: { heartbeatMs: 1_000 } }).start(stop.signal);
  const credentials = await enrolledCredentials(url, 'node', 'n1', dir);
  agent = startTend('agent-n1', ['agent', '--node', 'n1', '--credentials-file', credentials, '--state-dir', join(dir, 'agent'), '--heartbeat-ms', '1000', '--poll-ms', '1000'], join(dir, 'agent.log'));
}, 60_000);

afterAll(async () => {
  for (const app of ['vm', 'hello']) await run(runDelete, ['app', app, '--database-url', url]).catch(() => {});
  await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.count', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0 ? true : undefined), { what: 'every instance gone', timeoutMs: 30_000 }).catch(() => {});
  await agent?.stop();
  stop.abort();
  await running;
  await store?.close();
  await databases.dropAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('an App whose node refuses its instance', () => {
  it('is Ready=False with the agent\'s reason and message, and tend why shows it, while the App next to it runs', async () => {
    const file = join(dir, 'all.yaml');
    writeFileSync(file, YAML);
    expect((await run(runApply, ['-f', file, '--database-url', url])).code).toBe(0);

    const ready = await eventually(async () => {
      const r = await run(runWhy, ['app/vm', '--database-url', url]);
      return r.out.split('\n')[0]!.includes('RuntimeUnavailable') && r.out.includes('refused:') ? r : undefined;
    }, { what: 'tend why app/vm to name RuntimeUnavailable', timeoutMs: 60_000 });
    const message = 'image "ghcr.io/acme/web:1.4": this node runs processes only; no runtime here runs images yet (set command instead)';
    const [first] = ready.out.split('\n');
    expect(first).toMatch(/^App default\/vm is not Ready: Available=False RuntimeUnavailable: 0 of 1 ready; 1 instance refused by its node; \S+ on n1: failed \(RuntimeUnavailable: /);
    expect(first).toContain(message);
    // The instance's overlay address (migrations/000025) lies in the /64 tend why node/n1 shows.
    const address = /n1\s+\S+\s+(fd[0-9a-f:]+)\s+running\s+failed \(RuntimeUnavailable\)\s+no/.exec(ready.out)?.[1];
    expect(address, ready.out).toBeDefined();
    const node = (await run(runWhy, ['node/n1', '--database-url', url])).out;
    const overlay = /^Overlay: (fd[0-9a-f:]+\/64) \(node \d+ of the cluster prefix (fd[0-9a-f:]+\/48)\); its instances take addresses in it$/m.exec(node);
    expect(overlay, node).not.toBeNull();
    expect(contains(parsePrefix(overlay![1]!), parseIpv6(address!))).toBe(true);
    expect(contains(parsePrefix(overlay![2]!), parseIpv6(address!))).toBe(true);
    expect(ready.out).toMatch(new RegExp(`on n1 refused: RuntimeUnavailable: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

    const conditions = await eventually(async () => {
      const [row] = await store.query<{ status: { conditions?: Condition[] } }>({ name: 'test.app_status', text: `select status from tend.resources where kind = 'App' and name = $1` }, ['hello']);
      return findCondition(row?.status.conditions, 'Ready')?.status === 'True' ? row!.status.conditions : undefined;
    }, { what: 'the App next to it Ready', timeoutMs: 60_000 });
    expect(findCondition(conditions, 'Available')?.reason).toBe('MinimumReplicasReady');
  }, 120_000);
});
