/**
 * `tend node enroll`, `tend edge enroll`, `tend node revoke` and how `tend agent` / `tend edge`
 * find their credentials, against a real PostgreSQL with the real roles (migrations/000009).
 */
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRouting } from '../../../agents/edge/edge-queries.js';
import { heartbeatAgent } from '../../../agents/node/agent-queries.js';
import { runAgent } from '../../../cli/agent.js';
import { runApply } from '../../../cli/apply.js';
import { resolveAgentConnection, type Credentials } from '../../../cli/credentials.js';
import { runEdgeVerb } from '../../../cli/edge.js';
import type { CliIo } from '../../../cli/io.js';
import { runNode } from '../../../cli/node.js';
import { runWhy } from '../../../cli/why.js';
import { createLogger } from '../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { FreshDatabases } from '../../env/fresh-database.js';

const databases = new FreshDatabases('enroll');
const dir = mkdtempSync(join(tmpdir(), 'tend-enroll-'));
let url: string;
const clients: pg.Client[] = [];

type Verb = (args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv) => Promise<number>;

function capture(): { io: CliIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: () => '' }, out, err };
}

async function run(verb: Verb, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const { io, out, err } = capture();
  try {
    return { code: await verb(args, io, env), out: out.join('\n'), err: err.join('\n') };
  } catch (e) {
    return { code: -1, out: out.join('\n'), err: `${err.join('\n')}${(e as Error).message}` };
  }
}

async function connect(databaseUrl: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  clients.push(client);
  return client;
}

const credentialsIn = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Credentials;

beforeAll(async () => {
  url = await databases.create();
  const store = new Store({ connectionString: url, logger: createLogger({ level: 'warn' }) });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  await store.close();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await databases.dropAll();
});

describe('tend node enroll', () => {
  it('writes a 0600 credentials file whose login heartbeats its own node only, printing no password', async () => {
    const file = join(dir, 'n1.json');
    const result = await run(runNode, ['enroll', 'n1', '--database-url', url, '--credentials-file', file]);
    expect(result).toMatchObject({ code: 0 });
    const credentials = credentialsIn(file);
    expect(credentials).toMatchObject({ kind: 'node', name: 'n1' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const login = new URL(credentials.databaseUrl);
    expect(result.out).toContain(`as PostgreSQL role ${login.username}`);
    expect(`${result.out}${result.err}`).not.toContain(decodeURIComponent(login.password));

    const agent = await connect(credentials.databaseUrl);
    const beat = (node: string) => agent.query(heartbeatAgent.text, [node, new Date(), 1000, 1, 1, 'cgroup', true, 'sandboxed', null]);
    await beat('n1');
    await expect(beat('n2')).rejects.toThrow(/row-level security/);
  });

  it('enrolling again rotates the password, and revoke ends the login at once', async () => {
    const file = join(dir, 'n2.json');
    expect((await run(runNode, ['enroll', 'n2', '--database-url', url, '--credentials-file', file])).code).toBe(0);
    const old = credentialsIn(file).databaseUrl;
    expect((await run(runNode, ['enroll', 'n2', '--database-url', url, '--credentials-file', file])).code).toBe(0);
    await expect(connect(old)).rejects.toThrow(/password authentication failed/);
    const session = await connect(credentialsIn(file).databaseUrl);

    const revoked = await run(runNode, ['revoke', 'n2', '--database-url', url]);
    expect(revoked).toMatchObject({ code: 0, out: 'node n2: credentials revoked, its sessions ended' });
    await expect(session.query('select 1')).rejects.toThrow();
    await expect(connect(credentialsIn(file).databaseUrl)).rejects.toThrow(/not permitted to log in/);
    expect((await run(runNode, ['revoke', 'n2', '--database-url', url])).out).toMatch(/nothing to revoke/);
  });

  it('refuses a name that is not a DNS subdomain, and a missing or extra NAME', async () => {
    expect((await run(runNode, ['enroll', 'Bad_Name', '--database-url', url, '--credentials-file', join(dir, 'bad.json')])).err).toMatch(/DNS subdomain/);
    expect((await run(runNode, ['enroll', '--database-url', url])).err).toMatch(/exactly one NAME/);
    expect((await run(runNode, ['enroll', 'a', 'b', '--database-url', url])).err).toMatch(/exactly one NAME/);
  });

  it('puts the host the agents reach into the file with --host-url', async () => {
    const file = join(dir, 'n3.json');
    expect((await run(runNode, ['enroll', 'n3', '--database-url', url, '--credentials-file', file, '--host-url', 'postgres://db.internal:6543/tend?sslmode=require'])).code).toBe(0);
    const login = new URL(credentialsIn(file).databaseUrl);
    expect(`${login.host}${login.pathname}${login.search}`).toBe('db.internal:6543/tend?sslmode=require');
    expect(login.username).toMatch(/_node_[0-9a-f]{16}$/);
  });

  it('tend why node/NAME shows the node’s identity', async () => {
    const manifest = join(dir, 'node.yaml');
    writeFileSync(manifest, 'apiVersion: tend.dev/v1alpha1\nkind: Node\nmetadata: { name: n1 }\nspec: { address: 127.0.0.1 }\n---\napiVersion: tend.dev/v1alpha1\nkind: Node\nmetadata: { name: n4 }\nspec: { address: 127.0.0.1 }\n');
    expect((await run(runApply, ['-f', manifest, '--database-url', url])).code).toBe(0);
    expect((await run(runWhy, ['node/n1', '--database-url', url])).out).toMatch(/^Identity: enrolled \d+s ago as role \S+_node_[0-9a-f]{16} \(may log in, \d+ open sessions?\)$/m);
    expect((await run(runWhy, ['node/n4', '--database-url', url])).out).toMatch(/^Identity: not enrolled: .* tend node enroll n4\)$/m);
  });
});

describe('tend edge enroll', () => {
  it('gives the edge a login that reads the routing table and cannot write it', async () => {
    const file = join(dir, 'edge.json');
    expect((await run(runEdgeVerb, ['enroll', 'edge-1', '--database-url', url, '--credentials-file', file])).code).toBe(0);
    const edge = await connect(credentialsIn(file).databaseUrl);
    expect((await edge.query(loadRouting.text)).rows[0].version).toBe('0');
    await expect(edge.query(`delete from platform.routing`)).rejects.toThrow(/permission denied/);
  });
});

describe('how tend agent and tend edge find their credentials', () => {
  it('reads --credentials-file, else $TEND_CREDENTIALS_FILE, naming the node', async () => {
    const file = join(dir, 'n1.json');
    const { io } = capture();
    expect(resolveAgentConnection('agent', 'node', { 'credentials-file': file }, {}, io)).toEqual({ databaseUrl: credentialsIn(file).databaseUrl, name: 'n1' });
    expect(resolveAgentConnection('agent', 'node', {}, { TEND_CREDENTIALS_FILE: file, DATABASE_URL: url }, io).name).toBe('n1');
  });

  it('warns about a password on the command line, not about one in $DATABASE_URL', () => {
    const flag = capture();
    resolveAgentConnection('agent', 'node', { 'database-url': 'postgres://u:secret@127.0.0.1/db' }, {}, flag.io);
    expect(flag.err.join('\n')).toMatch(/--database-url carries a password.*--credentials-file/);
    expect(flag.err.join('\n')).not.toContain('secret');
    const variable = capture();
    resolveAgentConnection('agent', 'node', {}, { DATABASE_URL: 'postgres://u:secret@127.0.0.1/db' }, variable.io);
    expect(variable.err).toEqual([]);
  });

  it('warns about a credentials file others may read, and refuses an edge’s file for an agent', () => {
    const file = join(dir, 'wide.json');
    writeFileSync(file, JSON.stringify({ kind: 'edge', name: 'e', databaseUrl: url }));
    chmodSync(file, 0o644);
    const wide = capture();
    expect(resolveAgentConnection('edge', 'edge', { 'credentials-file': file }, {}, wide.io).name).toBe('e');
    expect(wide.err.join('\n')).toMatch(/may be read by other users; chmod 600/);
    expect(() => resolveAgentConnection('agent', 'node', { 'credentials-file': file }, {}, capture().io)).toThrow(/not a node's credentials file/);
  });

  it('tend agent refuses a --node that is not the credentials file’s', async () => {
    const result = await run(runAgent, ['--node', 'other', '--credentials-file', join(dir, 'n1.json')]);
    expect(result).toMatchObject({ code: -1, err: `agent: --node other, but the credentials file is node n1's` });
  });
});
