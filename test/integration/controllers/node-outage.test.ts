/**
 * Nodes are judged lost by evidence, not by the age of their last heartbeat row. After an outage
 * of PostgreSQL (or of the whole control plane) every heartbeat is old; the silence only counts
 * from when heartbeats could be seen again — PostgreSQL's start, or the control plane's rejoin —
 * so nothing is declared lost (and replaced) the moment the database returns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../../api/admission.js';
import { buildPlatform, platformClients } from '../../../controllers/platform.js';
import { PostgresClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('node-outage');
const stop = new AbortController();
let store: Store;
let clients: ReturnType<typeof platformClients>;
let running: Promise<void>;
const HEARTBEAT_MS = 1_000;

beforeAll(async () => {
  const url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  clients = platformClients((type) => new PostgresClient(type, store, { listenUrl: url, admit }));
  // The control plane is back from an outage: its (only) replica rejoined the member list just now,
  // and the node's last heartbeat is from two minutes ago, written before the outage.
  await store.query({ name: 'test.member', text: `insert into tend.members (name, active_at, expires_at) values ('back', now(), now() + interval '1 hour')` }, []);
  await store.query(
    {
      name: 'test.old_beat',
      text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement, isolated)
             values ('n1', now() - interval '2 minutes', now() - interval '1 hour', 2000, 8589934592, 107374182400, 'rss-polling', true)`,
    },
    [],
  );
  running = buildPlatform({ store, logger, replica: 'test', membership: false, cluster: { heartbeatMs: HEARTBEAT_MS, missedHeartbeats: 3 } }).start(stop.signal);
});

afterAll(async () => {
  stop.abort();
  await running;
  await databases.dropAll();
});

const alive = async () => findCondition((await clients.node.get('n1' as Key))?.status?.conditions, 'Alive');

describe('a node whose heartbeats stopped during an outage', () => {
  it('is not lost when the control plane returns, and is lost once it stays silent for a whole window after', async () => {
    await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, spec: { address: '127.0.0.1' } });
    const first = await eventually(alive, { what: 'the first Alive verdict' });
    expect(first).toMatchObject({ status: 'True', reason: 'Heartbeating' });

    // No heartbeat comes: three periods after the return, the silence is evidence.
    const lost = await eventually(async () => ((await alive())?.reason === 'NodeLost' ? alive() : undefined), { what: 'NodeLost', timeoutMs: 20_000 });
    expect(lost).toMatchObject({ status: 'False' });
  });
});
