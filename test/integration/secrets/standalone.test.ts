/**
 * Secrets delivery in standalone mode, as a user runs it: `tend up`, a Secret made with
 * `tend secret create` and changed with `tend apply` of a v1 Secret, an App whose env takes a key
 * of it. The instance gets the value; after the whole run the value is in no table, no database
 * file and no log, nor in `tend describe` / `tend why`; a missing Secret is Ready=False
 * SecretNotFound with nothing running; a change rolls the App out within seconds.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runApply } from '../../../cli/apply.js';
import { runDescribe } from '../../../cli/describe.js';
import type { CliIo } from '../../../cli/io.js';
import { runSecret } from '../../../cli/secret.js';
import { runWhy } from '../../../cli/why.js';
import { postgresDir } from '../../../cli/standalone/embedded-postgres.js';
import { REPO_ROOT } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import { freePort } from '../../env/ports.js';
import { waitForServer, type ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';

const folder = mkdtempSync(join(tmpdir(), 'tend-secrets-'));
chmodSync(folder, 0o700);
const dataDir = join(folder, '.tend');
const env = { TEND_DATA_DIR: dataDir };
const fixture = join(REPO_ROOT, 'test/fixtures/instances/http-instance.mjs');
// Random, so a hit can only be this run's value; and its base64 and hex forms too.
const FIRST = `first-${randomBytes(12).toString('hex')}`;
const SECOND = `second-${randomBytes(12).toString('hex')}`;
let up: ServerProcess | undefined;

afterAll(async () => {
  await up?.stop(30_000);
  if (postgresDir(dataDir) !== join(dataDir, 'postgres')) rmSync(postgresDir(dataDir), { recursive: true, force: true });
});

/** Runs a verb in this process, as `tend VERB ARGS`; its output lines. */
async function tend(verb: (args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv) => Promise<number>, ...args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const io: CliIo = { out: (l) => lines.push(l), err: (l) => lines.push(l), readStdin: () => '' };
  const code = await verb(args, io, env);
  return { code, out: lines.join('\n') };
}

function file(name: string, text: string): string {
  const path = join(folder, name);
  writeFileSync(path, text);
  return path;
}

function databaseUrl(): string {
  const state = JSON.parse(readFileSync(join(dataDir, 'tend.json'), 'utf8')) as { databaseUrl: string };
  const url = new URL(state.databaseUrl);
  url.password = readFileSync(join(dataDir, 'postgres.password'), 'utf8').trim();
  return url.toString();
}

async function sql<R>(text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as R[];
  } finally {
    await client.end();
  }
}

async function appReady(name: string): Promise<{ revision: string; reason: string; message: string; status: string }> {
  const [row] = await sql<{ revision: string; reason: string; message: string; status: string }>(
    `select status->>'revision' as revision, c->>'reason' as reason, c->>'message' as message, c->>'status' as status
     from tend.resources, jsonb_array_elements(status->'conditions') c where kind = 'App' and name = $1 and c->>'type' = 'Ready'`,
    [name],
  );
  if (!row) throw new Error(`no Ready condition on App ${name} yet`);
  return row as never;
}

async function served(name: string): Promise<string[]> {
  const rows = await sql<{ port: number }>(`select port from platform.instances where app = $1 and desired = 'running' and ready and port is not null`, [`default/${name}`]);
  return Promise.all(rows.map(async (r) => (await fetch(`http://127.0.0.1:${r.port}/env/SECRET_VALUE`, { signal: AbortSignal.timeout(2_000) })).text()));
}

/** Every file under `dir` (no symlinks followed). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** A file's bytes; empty when it went meanwhile (an old instance's log goes with it). */
function contents(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw err;
  }
}

const forms = (value: string) => [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('base64url'), Buffer.from(value).toString('hex')];

describe('secrets in standalone mode (tend up)', () => {
  it('deliver a Secret key to the instance only: SecretNotFound first, the value served, a rollout on change, and no value in any table, database file, log or CLI output', async () => {
    const port = await freePort();
    up = startTend('tend up (secrets)', ['up', '--no-examples', '--listen', `127.0.0.1:${port}`, '--https-listen', '127.0.0.1:0', '--metrics-port', '0', '--data-dir', dataDir], join(folder, 'up.log'), folder);
    await waitForServer(up, 'tend is up', async () => (up!.tail(200).includes('tend is up') ? true : undefined), 180_000);
    expect(statSync(join(dataDir, 'secrets.key')).mode & 0o777).toBe(0o600);
    expect((await tend(runApply, '-f', join(REPO_ROOT, 'examples/tenant.yaml'), '-f', join(REPO_ROOT, 'examples/node.yaml'))).code).toBe(0);

    // The App first, its Secret not there yet: nothing is placed, and the App says why.
    const app = file('vault.yaml', `apiVersion: tend.dev/v1alpha1
kind: App
metadata: { name: vault }
spec:
  replicas: 1
  command: [node, ${fixture}]
  resources: { memory: 64Mi, cpu: 50m }
  healthCheck: { httpGet: { path: /healthz }, periodSeconds: 1 }
  env:
    - { name: GREETING, value: hello }
    - name: SECRET_VALUE
      valueFrom: { secretKeyRef: { name: db, key: password } }
`);
    expect((await tend(runApply, '-f', app)).out).toBe('app.tend.dev/vault created');
    const missing = await eventually(async () => {
      const ready = await appReady('vault');
      return ready.reason === 'SecretNotFound' ? ready : undefined;
    }, { what: 'vault Ready=False SecretNotFound', timeoutMs: 60_000 });
    expect(missing.message).toContain('env SECRET_VALUE: secret default/db not found');
    expect(await sql(`select id from platform.instances where app = 'default/vault'`)).toEqual([]);

    // The Secret, from the command line: the instance starts with the value in its environment.
    expect(await tend(runSecret, 'create', 'db', '--from-literal', `password=${FIRST}`, '--from-literal', 'user=app')).toEqual({ code: 0, out: 'secret/db created' });
    const first = await eventually(async () => ((await served('vault'))[0] === FIRST ? await appReady('vault') : undefined), { what: 'the instance serving the first value', timeoutMs: 90_000 });
    expect(first.status).toBe('True');
    const [stored] = await sql<{ password: string }>(`select spec->'data'->>'password' as password from tend.resources where kind = 'Secret' and name = 'db'`);
    expect(stored!.password).toMatch(/^tend-seal-v1\.[0-9a-f]{16}\./);
    const [instance] = await sql<{ sealed_env: string; sealed_to: string; key: string }>(
      `select i.sealed_env, i.sealed_to, a.sealing_key as key from platform.instances i join platform.node_agents a on a.node = i.node where i.app = 'default/vault'`,
    );
    expect(instance!.sealed_env).toMatch(/^tend-seal-v1\./);
    expect(instance!.sealed_to).toBe(instance!.key);
    expect(statSync(join(dataDir, 'agent-local', 'sealing.key')).mode & 0o777).toBe(0o600);

    // Shown by reference, never by value.
    const described = await tend(runDescribe, 'app/vault');
    expect(described.out).toMatch(/SECRET_VALUE\s+secret default\/db key password/);
    const why = await tend(runWhy, 'app/vault');
    expect(why.out).toMatch(/SECRET_VALUE\s+secret default\/db key password/);
    const whyNode = await tend(runWhy, 'node/local');
    expect(whyNode.out).toMatch(/^Sealing key: [0-9a-f]{16} \(Secrets are sealed to it/m);
    const listed = await tend(runSecret, 'list');
    expect(listed.out).toMatch(/^db\s+Opaque\s+password,user\s/m);

    // Re-applying the same value is no new revision; a new value rolls out within seconds.
    const secretYaml = (value: string) => file('db.yaml', `apiVersion: v1\nkind: Secret\nmetadata: { name: db }\nstringData:\n  password: "${value}"\n  user: app\n`);
    expect((await tend(runApply, '-f', secretYaml(FIRST))).out).toBe('secret/db configured');
    expect((await appReady('vault')).revision).toBe(first.revision);
    const changed = Date.now();
    expect((await tend(runApply, '-f', secretYaml(SECOND))).out).toBe('secret/db configured');
    const second = await eventually(async () => {
      const ready = await appReady('vault');
      const values = await served('vault');
      return ready.revision !== first.revision && ready.status === 'True' && values.length === 1 && values[0] === SECOND ? ready : undefined;
    }, { what: 'the new value rolled out', timeoutMs: 90_000 });
    console.log(`secrets: a changed Secret served by the new revision ${second.revision} after ${Date.now() - changed} ms`);
    expect((await appReady('vault')).revision).not.toBe(first.revision);
    writeFileSync(join(folder, 'db.yaml'), ''); // the test's own file held the values: not part of what is checked

    // The whole database as text: every row of every table of every schema.
    const tables = await sql<{ name: string }>(
      `select format('%I.%I', schemaname, tablename) as name from pg_tables where schemaname not in ('pg_catalog', 'information_schema')`,
    );
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['tend.resources', 'tend.resource_events', 'tend.reconciles', 'platform.instances']));
    let dump = '';
    for (const { name } of tables) dump += (await sql<{ t: string }>(`select coalesce(string_agg(t::text, E'\\n'), '') as t from ${name} t`))[0]!.t;
    expect(dump.length).toBeGreaterThan(1000);
    await sql('checkpoint');
    const outputs = [described.out, why.out, listed.out, (await tend(runDescribe, 'app/vault')).out];
    const logs = [...filesUnder(folder), ...filesUnder(postgresDir(dataDir))].filter((f) => !f.endsWith('.instance.json'));
    expect(logs.some((f) => f.endsWith('tend.log'))).toBe(true);
    expect(logs.some((f) => f.endsWith('postgres.log'))).toBe(true);
    for (const value of [FIRST, SECOND]) {
      for (const form of forms(value)) {
        expect(dump.includes(form), `the database dump holds ${form === value ? 'a value' : 'an encoded value'}`).toBe(false);
        for (const text of outputs) expect(text.includes(form)).toBe(false);
      }
      // Every file: PostgreSQL's data and WAL, tend.log, postgres.log, the instance logs, the test's own.
      const hits = logs.filter((f) => contents(f).includes(value));
      expect(hits, `files holding the value`).toEqual([]);
    }
    // The agent's records (the runtime restarts and adopts from them) are its own: 0700.
    expect(statSync(join(dataDir, 'agent-local')).mode & 0o777).toBe(0o700);
  }, 420_000);
});
