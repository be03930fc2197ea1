/**
 * Node identity with the real roles (migrations/000009): each node's agent and each edge connects
 * as a login of its own, and grants plus row-level security decide what it may see and change.
 * The queries tried are the agents' own (agents/node/agent-queries.ts, volumes/volume-queries.ts,
 * agents/edge/edge-queries.ts), then what a hostile tenant holding the node's credentials would try.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRouting } from '../../../agents/edge/edge-queries.js';
import { assignPorts, heartbeatAgent, instancesOfNode, reportInstances } from '../../../agents/node/agent-queries.js';
import { insertLogChunks, logPositions, pruneLogs } from '../../../agents/node/log-queries.js';
import { recordVolumeBackups, volumesOfNode } from '../../../agents/node/volumes/volume-queries.js';
import { createLogger } from '../../../framework/log/logger.js';
import { Store, frameworkMigrations, generatePassword, migrate, scramSha256Verifier, type NamedQuery } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { FreshDatabases } from '../../env/fresh-database.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('identity');
let url: string;
let admin: Store;
const clients: pg.Client[] = [];
const credentials = new Map<string, { user: string; password: string }>();

const sql = (text: string): NamedQuery => ({ name: `test.${text.slice(0, 40)}`, text });

async function enroll(kind: 'node' | 'edge', name: string): Promise<void> {
  const password = generatePassword();
  const [row] = await admin.query<{ role: string }>(sql('select platform.enroll($1, $2, $3) as role'), [kind, name, scramSha256Verifier(password)]);
  credentials.set(`${kind}/${name}`, { user: row!.role, password });
}

/** A connection with the credentials `tend node enroll` would hand to that host. */
async function connectAs(who: string, password?: string): Promise<pg.Client> {
  const c = credentials.get(who)!;
  const at = new URL(url);
  at.username = c.user;
  at.password = password ?? c.password;
  const client = new pg.Client({ connectionString: at.toString() });
  client.on('error', () => {}); // a revoked session is ended by the server
  await client.connect();
  clients.push(client);
  return client;
}

async function run(client: pg.Client, q: NamedQuery | string, values: unknown[] = []): Promise<pg.QueryResult> {
  return client.query(typeof q === 'string' ? q : q.text, values);
}

async function instance(id: string, node: string): Promise<void> {
  await admin.query(sql(`insert into platform.instances (id, app, tenant, revision, node, memory, cpu, spec) values ($1, $2, 'acme', 'r1', $3, 67108864, 100, '{"command":["node","x.mjs"]}')`), [id, `default/${id}`, node]);
}

beforeAll(async () => {
  url = await databases.create();
  admin = new Store({ connectionString: url, logger });
  await migrate(admin, { tracks: [frameworkMigrations, platformMigrations] });
  for (const node of ['node-a', 'node-b']) {
    await admin.query(sql(`insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu) values ($1, $1, 1, 'ready', 1073741824, 2000)`), [node]);
    await admin.query(sql(`insert into platform.volumes (key, uid, tenant, size, node, bound_at) values ($1, $1, 'acme', 1048576, $2, now())`), [`default/data-${node}`, node]);
  }
  await instance('a1', 'node-a');
  await instance('b1', 'node-b');
  await admin.query(sql(`insert into platform.routing (host, path_prefix, route, backends) values ('hello.test', '/', 'default/hello', '[{"address":"127.0.0.1","port":1,"instance":"a1"}]')`));
  await enroll('node', 'node-a');
  await enroll('node', 'node-b');
  await enroll('edge', 'edge-1');
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await admin?.close();
  await databases.dropAll();
});

describe('a node agent connection', () => {
  it('heartbeats its own node and no other', async () => {
    const a = await connectAs('node/node-a');
    const beat = (node: string) => run(a, heartbeatAgent, [node, new Date(), 2000, 1 << 30, 1 << 30, 'cgroup', true, 'sandboxed', null]);
    await beat('node-a');
    await beat('node-a'); // the upsert's update path
    await expect(beat('node-b')).rejects.toThrow(/row-level security/);
    const rows = await admin.query<{ node: string }>(sql('select node from platform.node_agents order by node'));
    expect(rows.map((r) => r.node)).toEqual(['node-a']);
    // Nor does it see another node's heartbeat.
    await admin.query(sql(`insert into platform.node_agents values ('node-b', now(), now(), 1, 1, 1, 'cgroup')`));
    expect((await run(a, 'select node from platform.node_agents')).rows).toEqual([{ node: 'node-a' }]);
  });

  it('reads only the instances placed on its node, even when it asks for another node', async () => {
    const a = await connectAs('node/node-a');
    expect((await run(a, instancesOfNode, ['node-a'])).rows.map((r) => r.id)).toEqual(['a1']);
    expect((await run(a, instancesOfNode, ['node-b'])).rows).toEqual([]);
    expect((await run(a, 'select id from platform.instances')).rows.map((r) => r.id)).toEqual(['a1']);
  });

  it('reports on its own instances, and reaches no row of another node', async () => {
    const a = await connectAs('node/node-a');
    // Every column the agent writes, the failure's reason and message (migration 000013) included.
    const failed = JSON.stringify([{ id: 'a1', phase: 'failed', ready: false, restarts: 0, reason: 'InvalidCommand', message: 'command is empty' }]);
    expect((await run(a, reportInstances, ['node-a', failed])).rowCount).toBe(1);
    expect((await run(a, assignPorts, ['node-a', JSON.stringify([{ id: 'a1', port: 41000 }])])).rowCount).toBe(1);
    const report = (id: string) => JSON.stringify([{ id, phase: 'running', ready: true, restarts: 0, last_exit: { code: 1, signal: null, reason: 'Error', at: '2026-01-01T00:00:00Z' } }]);
    expect((await run(a, reportInstances, ['node-a', report('a1')])).rowCount).toBe(1);
    // The same report again writes nothing: last_exit compares by value whatever its key order.
    expect((await run(a, reportInstances, ['node-a', report('a1')])).rowCount).toBe(0);
    expect((await run(a, reportInstances, ['node-b', report('b1')])).rowCount).toBe(0);
    expect((await run(a, reportInstances, ['node-a', report('b1')])).rowCount).toBe(0);
    expect((await run(a, `update platform.instances set phase = 'stopped' where id = 'b1'`)).rowCount).toBe(0);
    const [b1] = await admin.query<{ phase: string | null }>(sql(`select phase from platform.instances where id = 'b1'`));
    expect(b1!.phase).toBeNull();
  });

  it('cannot place instances or change what an instance runs', async () => {
    const a = await connectAs('node/node-a');
    await expect(
      run(a, `insert into platform.instances (id, app, tenant, revision, node, memory, cpu, spec) values ('evil', 'x/y', 'acme', 'r', 'node-a', 1, 1, '{"command":["sh"]}')`),
    ).rejects.toThrow(/permission denied/);
    for (const change of [`spec = '{"command":["sh"]}'`, `desired = 'running'`, `node = 'node-b'`, 'memory = 1', `app = 'other/app'`]) {
      await expect(run(a, `update platform.instances set ${change} where id = 'a1'`), change).rejects.toThrow(/permission denied/);
    }
    await expect(run(a, `delete from platform.instances where id = 'a1'`)).rejects.toThrow(/permission denied/);
  });

  it("ships, reads back and prunes only its own instances' output (platform.instance_logs)", async () => {
    const a = await connectAs('node/node-a');
    const chunk = (id: string, text: string) => [[id], ['2026-01-01T00:00:00.000Z'], [new Date().toISOString()], [text], [1], [text.length], [text.length]];
    // The agent's own statement: another node's instance is left out, not an error.
    expect((await run(a, insertLogChunks, ['node-a', ...chunk('a1', 'mine\n')])).rowCount).toBe(1);
    expect((await run(a, insertLogChunks, ['node-a', ...chunk('b1', 'forged\n')])).rowCount).toBe(0);
    expect((await run(a, insertLogChunks, ['node-b', ...chunk('b1', 'forged\n')])).rowCount).toBe(0);
    // Written directly, past the agent's query: refused by the policy.
    await expect(run(a, `insert into platform.instance_logs (instance, run_started, at, lines, line_count, bytes, end_offset) values ('b1', now(), now(), 'forged', 1, 6, 6)`)).rejects.toThrow(/row-level security/);
    await admin.query(sql(`insert into platform.instance_logs (instance, run_started, at, lines, line_count, bytes, end_offset) values ('b1', now(), now(), 'secret of b\n', 1, 12, 12)`));
    expect((await run(a, 'select instance, lines from platform.instance_logs')).rows).toEqual([{ instance: 'a1', lines: 'mine\n' }]);
    expect((await run(a, logPositions, ['node-b'])).rows).toEqual([]);
    expect((await run(a, logPositions, ['node-a'])).rows).toEqual([{ instance: 'a1', run: new Date('2026-01-01T00:00:00.000Z'), offset: 5 }]);
    expect((await run(a, pruneLogs, ['node-b', ['b1'], 0])).rowCount).toBe(0);
    expect((await run(a, 'delete from platform.instance_logs')).rowCount).toBe(1); // its own row only
    await expect(run(a, `update platform.instance_logs set lines = 'x'`)).rejects.toThrow(/permission denied/);
    expect((await admin.query<{ instance: string }>(sql('select instance from platform.instance_logs'))).map((r) => r.instance)).toEqual(['b1']);
  });

  it('reads and reports only the volumes bound to its node, observed columns only', async () => {
    const a = await connectAs('node/node-a');
    expect((await run(a, volumesOfNode, ['node-b'])).rows).toEqual([]);
    expect((await run(a, volumesOfNode, ['node-a'])).rows.map((r) => r.key)).toEqual(['default/data-node-a']);
    const backups = (key: string, node: string) => run(a, recordVolumeBackups, [key, node, '[]', null, 'req-1', false]);
    expect((await backups('default/data-node-a', 'node-a')).rowCount).toBe(1);
    expect((await backups('default/data-node-b', 'node-b')).rowCount).toBe(0);
    await expect(run(a, `update platform.volumes set size = 1 where key = 'default/data-node-a'`)).rejects.toThrow(/permission denied/);
    await expect(run(a, `update platform.volumes set node = 'node-a' where key = 'default/data-node-b'`)).rejects.toThrow(/permission denied/);
  });

  it('cannot touch routing, the scheduler rows, the resources, the identities or the membership view', async () => {
    const a = await connectAs('node/node-a');
    for (const statement of [
      'select * from platform.routing',
      `update platform.routing set backends = '[]'`,
      `insert into platform.routing (host, path_prefix, route) values ('evil.test', '/', 'x/y')`,
      'update platform.routing_version set version = 0',
      'select * from platform.nodes',
      `update platform.nodes set state = 'ready'`,
      'select * from platform.identities',
      'select * from platform.tenants',
      'select * from tend.resources',
      'select * from tend.members',
      'select * from platform.app_revisions',
      'update tend.membership_view set epoch = epoch + 1',
      'select * from tend.advance_membership_view(50)',
    ]) {
      await expect(run(a, statement), statement).rejects.toThrow(/permission denied/);
    }
  });

  it('cannot enroll, revoke or grant itself anything', async () => {
    const a = await connectAs('node/node-a');
    await expect(run(a, `select platform.enroll('node', 'node-c', $1)`, [scramSha256Verifier('x')])).rejects.toThrow(/permission denied/);
    await expect(run(a, `select platform.revoke_identity('node', 'node-b')`)).rejects.toThrow(/permission denied/);
    await expect(run(a, `select platform.grant_to('node_agent', 'update', 'platform.instances', array['spec'])`)).rejects.toThrow(/permission denied/);
    await expect(run(a, `select platform.ensure_roles()`)).rejects.toThrow(/permission denied/);
  });

  it('needs its password: a wrong one is refused', async () => {
    await expect(connectAs('node/node-a', generatePassword())).rejects.toThrow(/password authentication failed/);
  });
});

describe('an edge connection', () => {
  it('reads the routing table and writes nothing', async () => {
    const edge = await connectAs('edge/edge-1');
    const [row] = (await run(edge, loadRouting)).rows;
    expect(row.routes.map((r: { host: string }) => r.host)).toEqual(['hello.test']);
    for (const statement of [
      `update platform.routing set backends = '[]'`,
      `insert into platform.routing (host, path_prefix, route) values ('evil.test', '/', 'x/y')`,
      `delete from platform.routing`,
      'update platform.routing_version set version = 0',
      'select * from platform.instances',
      'select * from platform.node_agents',
      `insert into platform.node_agents values ('node-a', now(), now(), 1, 1, 1, 'cgroup')`,
    ]) {
      await expect(run(edge, statement), statement).rejects.toThrow(/permission denied/);
    }
  });
});

describe('revocation', () => {
  it('ends a node’s open sessions and refuses its credentials, other nodes unaffected; re-enrolling gives new ones', async () => {
    const b = await connectAs('node/node-b');
    expect((await run(b, instancesOfNode, ['node-b'])).rows).toHaveLength(1);
    const [first] = await admin.query<{ revoked: boolean }>(sql(`select platform.revoke_identity('node', 'node-b') as revoked`));
    expect(first!.revoked).toBe(true);
    const [again] = await admin.query<{ revoked: boolean }>(sql(`select platform.revoke_identity('node', 'node-b') as revoked`));
    expect(again!.revoked).toBe(false);
    await expect(run(b, 'select 1')).rejects.toThrow();
    await expect(connectAs('node/node-b')).rejects.toThrow(/not permitted to log in/);
    const a = await connectAs('node/node-a');
    expect((await run(a, instancesOfNode, ['node-a'])).rows).toHaveLength(1);

    const old = credentials.get('node/node-b')!;
    await enroll('node', 'node-b');
    await expect(connectAs('node/node-b', old.password)).rejects.toThrow(/password authentication failed/);
    const b2 = await connectAs('node/node-b');
    expect((await run(b2, instancesOfNode, ['node-b'])).rows).toHaveLength(1);
  });

  it('forgetting a node drops its login', async () => {
    await enroll('node', 'node-gone');
    const role = credentials.get('node/node-gone')!.user;
    const [row] = await admin.query<{ forgotten: boolean }>(sql(`select platform.forget_identity('node', 'node-gone') as forgotten`));
    expect(row!.forgotten).toBe(true);
    expect(await admin.query(sql('select 1 from pg_roles where rolname = $1'), [role])).toEqual([]);
    expect(await admin.query(sql(`select 1 from platform.identities where name = 'node-gone'`))).toEqual([]);
  });
});

describe('roles of several databases on one server', () => {
  it('are named after their database, so two tend databases never share a login', async () => {
    const [row] = await admin.query<{ db: string; node: string; group: string }>(
      sql(`select current_database() as db, platform.login_role('node', 'node-a') as node, platform.group_role('node_agent') as group`),
    );
    expect(row!.node.startsWith(`${row!.db}_node_`)).toBe(true);
    expect(row!.group).toBe(`${row!.db}_node_agent`);
    expect(credentials.get('node/node-a')!.user).toBe(row!.node);
  });
});

describe('migrating as a role that is not a superuser', () => {
  /** A database owned by a new login with `attributes`; returns the owner's URL (dropAll drops both). */
  async function ownedDatabase(attributes: string): Promise<{ ownerUrl: string }> {
    const dbUrl = await databases.create();
    const name = new URL(dbUrl).pathname.slice(1);
    const owner = `${name}_owner`;
    const password = generatePassword();
    const [create] = await admin.query<{ sql: string }>(sql(`select format('create role %I login ${attributes} password %L', $1::text, $2::text) as sql`), [owner, scramSha256Verifier(password)]);
    const server = new pg.Client({ connectionString: dbUrl });
    await server.connect();
    try {
      await server.query(create!.sql);
      await server.query(`alter database ${server.escapeIdentifier(name)} owner to ${server.escapeIdentifier(owner)}`);
      await server.query(`alter schema public owner to ${server.escapeIdentifier(owner)}`);
    } finally {
      await server.end();
    }
    const ownerUrl = new URL(dbUrl);
    ownerUrl.username = owner;
    ownerUrl.password = password;
    return { ownerUrl: ownerUrl.toString() };
  }

  it('with CREATEROLE (as on hosted PostgreSQL): migrates, enrolls, and the policies hold', async () => {
    const { ownerUrl } = await ownedDatabase('createrole');
    const owner = new Store({ connectionString: ownerUrl, logger });
    try {
      await migrate(owner, { tracks: [frameworkMigrations, platformMigrations] });
      await owner.query(sql(`insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu) values ('n', 'n', 1, 'ready', 1, 1)`));
      const password = generatePassword();
      const [row] = await owner.query<{ role: string }>(sql('select platform.enroll($1, $2, $3) as role'), ['node', 'n', scramSha256Verifier(password)]);
      const nodeUrl = new URL(ownerUrl);
      nodeUrl.username = row!.role;
      nodeUrl.password = password;
      const node = new pg.Client({ connectionString: nodeUrl.toString() });
      node.on('error', () => {}); // ended by the server on revocation
      await node.connect();
      clients.push(node);
      await node.query(heartbeatAgent.text, ['n', new Date(), 1, 1, 1, 'cgroup', true, 'sandboxed', null]);
      await expect(node.query(heartbeatAgent.text, ['m', new Date(), 1, 1, 1, 'cgroup', true, 'sandboxed', null])).rejects.toThrow(/row-level security/);
      const [revoked] = await owner.query<{ revoked: boolean }>(sql(`select platform.revoke_identity('node', 'n') as revoked`));
      expect(revoked!.revoked).toBe(true);
      await expect(node.query('select 1')).rejects.toThrow();
    } finally {
      await owner.close();
    }
  });

  it('without CREATEROLE: migrates all the same, and enrolling says what is missing', async () => {
    const { ownerUrl } = await ownedDatabase('nocreaterole');
    const owner = new Store({ connectionString: ownerUrl, logger });
    try {
      await migrate(owner, { tracks: [frameworkMigrations, platformMigrations] });
      await expect(owner.query(sql('select platform.enroll($1, $2, $3) as role'), ['node', 'n', scramSha256Verifier(generatePassword())])).rejects.toThrow(/may not create roles; grant it CREATEROLE/);
    } finally {
      await owner.close();
    }
  });
});
