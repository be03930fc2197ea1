import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceType } from '../../../api/resource-types.js';
import type { Node } from '../../../api/types/node.js';
import { liveNodes } from '../../../controllers/place-instances.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { KubeClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, generatePassword, migrate, scramSha256Verifier } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { kubeConfig } from '../../env/context.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import { testShard } from '../../env/shard.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('node');
const shard = testShard('node');
const nodes = new KubeClient<Node>(resourceType('Node'), kubeConfig());
const stop = new AbortController();
let store: Store;
let running: Promise<void>;
const GiB = 2 ** 30;
const HEARTBEAT_MS = 300;

beforeAll(async () => {
  store = new Store({ connectionString: await databases.create(), logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  const manager = buildPlatform({
    kubeConfig: kubeConfig(), store, logger, replica: 'test', membership: false, selector: shard.selector,
    cluster: { heartbeatMs: HEARTBEAT_MS, missedHeartbeats: 3 },
  });
  running = manager.start(stop.signal);
});

afterAll(async () => {
  stop.abort();
  await running;
  await databases.dropAll();
});

/** What `tend agent` writes on each heartbeat: the machine's capacity and the time. */
const beat = (node: string, startedAt = '2026-01-01T00:00:00Z') =>
  store.query(
    {
      name: 'test.agent_beat',
      text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement, isolated)
             values ($1, now(), $2, 2000, $3, $4, 'rss-polling', true)
             on conflict (node) do update set heartbeat_at = now()`,
    },
    [node, startedAt, 8 * GiB, 100 * GiB],
  );

async function readyIs(name: string, status: string, reason?: string): Promise<Node> {
  return eventually(async () => {
    const n = await nodes.get(name as Key);
    const ready = findCondition(n?.status?.conditions, 'Ready');
    return ready?.status === status && (!reason || ready.reason === reason) ? n : undefined;
  }, { what: `node ${name} Ready=${status} ${reason ?? ''}` });
}

describe('the Node controller', () => {
  it('waits for an agent, then offers the reported capacity, and writes nothing on ordinary heartbeats', async () => {
    const name = `node-${randomBytes(3).toString('hex')}`;
    await nodes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name, labels: shard.labels }, spec: { address: '127.0.0.1', reserved: { memory: '1Gi', cpu: '500m' } } });
    await readyIs(name, 'Unknown', 'AgentNotReporting');
    await beat(name);
    const ready = await readyIs(name, 'True');
    expect(ready.status?.allocatable).toEqual({ cpu: '7500m', memory: '6912Mi' });
    const row = (await store.query<{ state: string; allocatable_memory: string }>({ name: 'test.node_row', text: 'select state, allocatable_memory::text from platform.nodes where name = $1' }, [name]))[0];
    expect(row).toEqual({ state: 'ready', allocatable_memory: String(6912 * 2 ** 20) });

    // Ten heartbeats later the Node object is untouched.
    const rv = ready.metadata.resourceVersion;
    for (let i = 0; i < 10; i++) {
      await beat(name);
      await eventually(async () => ((await store.query<{ ok: boolean }>({ name: 'test.wait_beat', text: `select now() - heartbeat_at > $2 * interval '1 millisecond' as ok from platform.node_agents where node = $1` }, [name, HEARTBEAT_MS / 3]))[0]?.ok ? true : undefined));
    }
    expect((await nodes.get(name as Key))?.metadata.resourceVersion).toBe(rv);
  });

  it('reports Isolated from what the agent says about its sandbox, follows a change, and the scheduler reads it the same way', async () => {
    const name = `node-${randomBytes(3).toString('hex')}`;
    await nodes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name, labels: shard.labels }, spec: { address: '127.0.0.1' } });
    const isolation = (isolated: boolean, message: string) =>
      store.query(
        {
          name: 'test.agent_isolation',
          text: `insert into platform.node_agents (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement, isolated, isolation_message)
                 values ($1, now(), '2026-01-01T00:00:00Z', 2000, $2, $3, 'rss-polling', $4, $5)
                 on conflict (node) do update set heartbeat_at = now(), isolated = $4, isolation_message = $5`,
        },
        [name, 8 * GiB, 100 * GiB, isolated, message],
      );
    const isolatedIs = (status: string, reason: string) =>
      eventually(async () => {
        const c = findCondition((await nodes.get(name as Key))?.status?.conditions, 'Isolated');
        return c?.status === status && c.reason === reason ? c : undefined;
      }, { what: `node ${name} Isolated=${status} ${reason}` });

    await isolation(false, 'the agent runs as uid 1000, not root');
    expect((await isolatedIs('False', 'SandboxUnavailable')).message).toBe('the agent runs as uid 1000, not root; no App is placed here (tend run --allow-unisolated-nodes would allow it)');
    await readyIs(name, 'True'); // alive all the same
    const view = async (allow: boolean) => (await liveNodes(store, 60_000, { allowUnisolated: allow })).find((n) => n.name === name)?.isolated;
    expect(await view(false)).toBe(false);
    expect(await view(true)).toBe(true);

    // Same agent start, only the isolation changed: the condition follows.
    await isolation(true, 'instances run in their own namespaces');
    expect((await isolatedIs('True', 'Sandboxed')).message).toBe('instances run in their own namespaces');
    expect(await view(false)).toBe(true);
  });

  it('declares a node lost after three missed heartbeats and Ready again when its agent returns', async () => {
    const name = `node-${randomBytes(3).toString('hex')}`;
    await nodes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name, labels: shard.labels }, spec: { address: '127.0.0.1' } });
    await beat(name);
    await readyIs(name, 'True');
    const lost = await readyIs(name, 'False', 'NodeLost');
    expect(findCondition(lost.status?.conditions, 'Ready')?.message).toMatch(/^no heartbeat since .* missed, lost after 3\)$/);
    await beat(name);
    await readyIs(name, 'True');
  });

  it('records cordon in the row the scheduler reads', async () => {
    const name = `node-${randomBytes(3).toString('hex')}`;
    await nodes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name, labels: shard.labels }, spec: { address: '127.0.0.1', unschedulable: true } });
    await beat(name);
    const node = await readyIs(name, 'True');
    expect(findCondition(node.status?.conditions, 'Schedulable')).toMatchObject({ status: 'False', reason: 'Cordoned' });
    const [row] = await store.query<{ state: string }>({ name: 'test.node_state', text: 'select state from platform.nodes where name = $1' }, [name]);
    expect(row?.state).toBe('cordoned');
  });

  it('revokes a decommissioned node’s agent credentials once it is empty, and drops its login when the Node is deleted', async () => {
    const name = `node-${randomBytes(3).toString('hex')}`;
    const q = (text: string) => ({ name: `test.${text.slice(0, 30)}`, text });
    const [{ role }] = (await store.query<{ role: string }>(q('select platform.enroll($1, $2, $3) as role'), ['node', name, scramSha256Verifier(generatePassword())])) as [{ role: string }];
    const login = async () => (await store.query<{ login: boolean }>(q('select rolcanlogin as login from pg_roles where rolname = $1'), [role]))[0]?.login;
    await nodes.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name, labels: shard.labels }, spec: { address: '127.0.0.1' } });
    await beat(name);
    await readyIs(name, 'True');
    expect(await login()).toBe(true);
    await nodes.update({ ...(await nodes.get(name as Key))!, spec: { address: '127.0.0.1', decommission: true } });
    await readyIs(name, 'False', 'Decommissioned');
    await eventually(async () => ((await login()) === false ? true : undefined), { what: `${name}'s login revoked` });
    const [identity] = await store.query<{ revoked: boolean }>(q('select revoked_at is not null as revoked from platform.identities where name = $1'), [name]);
    expect(identity?.revoked).toBe(true);
    await nodes.delete(name as Key);
    await eventually(async () => ((await login()) === undefined ? true : undefined), { what: `${name}'s login dropped` });
  });
});
