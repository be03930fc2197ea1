/**
 * The Node controller follows what is placed on a node, not what the node's agent reports about
 * it: an instance arriving or leaving changes the Node's status (allocated, instances) at once,
 * while an agent's reports — a crash loop writes one per restart — do not wake it. Before
 * migration 000015 it reconciled on every tend_instances notification (bench:crash-loop).
 * Controllers on the PostgreSQL backend, in this process; the "agent" is SQL.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../../api/types/node.js';
import { runApply } from '../../../cli/apply.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Manager } from '../../../framework/runtime/manager.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('node_instances');
const stop = new AbortController();
let dir: string;
let store: Store;
let manager: Manager;
let running: Promise<void>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tend-node-instances-'));
  const url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  manager = buildPlatform({ store, logger, replica: 'test', membership: false });
  running = manager.start(stop.signal);
  // No agent ever reports for this node, so nothing requeues its key: every reconcile counted below has a cause.
  const file = join(dir, 'node.yaml');
  writeFileSync(file, `apiVersion: tend.dev/v1alpha1\nkind: Node\nmetadata: { name: n1 }\nspec: { address: 127.0.0.1, capacity: { cpu: "2", memory: 4Gi, disk: 10Gi } }\n`);
  const io = { out: () => {}, err: (l: string) => logger.warn(l), readStdin: () => '' };
  expect(await runApply(['-f', file, '--database-url', url], io, {})).toBe(0);
  await eventually(async () => ((await store.query({ name: 'test.node_row', text: `select 1 from platform.nodes where name = 'n1'` })).length ? true : undefined), { what: 'the node row' });
});

afterAll(async () => {
  stop.abort();
  await running;
  await store?.close();
  await databases.dropAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const status = async (): Promise<NodeStatus | undefined> =>
  (await store.query<{ status: NodeStatus }>({ name: 'test.node_status', text: `select status from tend.resources where kind = 'Node' and name = 'n1'` }))[0]?.status;

async function nodeReconciles(): Promise<number> {
  const metric = await manager.registry.getSingleMetric('controller_runtime_reconcile_total')!.get();
  return metric.values.filter((v) => v.labels.controller === 'node').reduce((sum, v) => sum + v.value, 0);
}

const instancesIs = (n: number, memory: string) =>
  eventually(async () => {
    const s = await status();
    return s?.instances === n && s.allocated?.memory === memory ? s : undefined;
  }, { what: `Node n1 with ${n} instances, ${memory} allocated` });

describe('the Node controller and the instances on its node', () => {
  it('sees instances arrive and leave, and is not woken by the agent reporting on them', async () => {
    await store.query({
      name: 'test.place',
      text: `insert into platform.instances (id, app, tenant, revision, node, memory, cpu, spec) values ('acme.web-0', 'acme/web', 'acme', 'r1', 'n1', $1, 100, '{"command":["web"]}')`,
    }, [64 * 2 ** 20]);
    await instancesIs(1, '64Mi');

    const before = await nodeReconciles();
    // A crash loop as the agent writes it: 50 reports, each its own statement and notification.
    for (let restarts = 1; restarts <= 50; restarts++) {
      await store.query({
        name: 'test.report',
        text: `update platform.instances set phase = $2, ready = false, restarts = $1, observed_at = now(),
                 last_exit = jsonb_build_object('code', 1, 'signal', null, 'reason', 'Error', 'at', now()::text) where id = 'acme.web-0'`,
      }, [restarts, restarts % 2 ? 'backoff' : 'running']);
    }
    // The instance leaving is seen, and comes after every report in the same notification order.
    await store.query({ name: 'test.forget', text: `delete from platform.instances where id = 'acme.web-0'` });
    await instancesIs(0, '0');
    const caused = (await nodeReconciles()) - before;
    // The delete's reconcile (and at most a retry of it); one per report would be 50.
    expect(caused).toBeGreaterThanOrEqual(1);
    expect(caused).toBeLessThanOrEqual(3);
  });
});
