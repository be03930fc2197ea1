/**
 * `tend up` as a newcomer runs it: one process, in an empty folder, with nothing else running.
 * The example App answers through the edge; a restart continues with the same data (nothing
 * re-created); after a `kill -9` the next start adopts the PostgreSQL and the instances left running.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../../cli/io.js';
import { runLogs } from '../../../cli/logs.js';
import { postgresDir } from '../../../cli/standalone/embedded-postgres.js';
import { eventually } from '../../env/eventually.js';
import { freePort } from '../../env/ports.js';
import { send } from '../../env/http-request.js';
import { sendHttps } from '../../env/https-request.js';
import { waitForServer, type ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';

const folder = mkdtempSync(join(tmpdir(), 'tend-up-'));
// Closed to others, like a clone in root's home: run as root, the embedded PostgreSQL (run as the
// `postgres` user) cannot reach a data folder in here, and tend up must cope.
chmodSync(folder, 0o700);
const dataDir = join(folder, '.tend');
const started: ServerProcess[] = [];

afterAll(async () => {
  for (const p of started) await p.stop(30_000);
  // Outside the folder (see postgresDir): removed by hand.
  if (postgresDir(dataDir) !== join(dataDir, 'postgres')) rmSync(postgresDir(dataDir), { recursive: true, force: true });
});

interface Snapshot {
  readonly resources: { kind: string; name: string; uid: string; created: string }[];
  readonly instances: string[];
}

async function startUp(port: number, run: number): Promise<{ process: ServerProcess; firstAnswerMs: number }> {
  const t0 = Date.now();
  const process = startTend(`tend up #${run}`, ['up', '--listen', `127.0.0.1:${port}`, '--https-listen', '127.0.0.1:0', '--metrics-port', '0', '--data-dir', dataDir], join(folder, `up-${run}.log`), folder);
  started.push(process);
  await waitForServer(process, 'an answer from the example App through the edge', async () => {
    const answer = await send(port, 'hello.localhost', '/');
    return answer.status === 200 && answer.body.startsWith('hello from') ? answer : undefined;
  }, 120_000);
  return { process, firstAnswerMs: Date.now() - t0 };
}

/** The embedded server's URL as the client verbs build it: tend.json's, with the password from its 0600 file. */
function databaseUrl(password = readFileSync(join(dataDir, 'postgres.password'), 'utf8').trim()): string {
  const state = JSON.parse(readFileSync(join(dataDir, 'tend.json'), 'utf8')) as { databaseUrl: string; passwordFile: string };
  expect(state.passwordFile).toBe(join(dataDir, 'postgres.password'));
  const url = new URL(state.databaseUrl);
  expect(url.password).toBe('');
  url.password = password;
  return url.toString();
}

async function snapshot(): Promise<Snapshot> {
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    const resources = await client.query<{ kind: string; name: string; uid: string; created: string }>(
      `select kind, name, uid::text, creation_timestamp::text as created from tend.resources order by kind, name`,
    );
    const instances = await client.query<{ id: string }>(`select id from platform.instances where desired = 'running' order by id`);
    return { resources: resources.rows, instances: instances.rows.map((r) => r.id) };
  } finally {
    await client.end();
  }
}

/** `tend logs ARGS` against this tend up, as a user in its folder runs it. */
async function tendLogs(...args: string[]): Promise<string[]> {
  const out: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => out.push(`stderr: ${l}`), readStdin: () => '' };
  expect(await runLogs([...args, '--data-dir', dataDir], io, {})).toBe(0);
  return out;
}

/** The hello App's lines, each instance's "listening" line once (ids: the line's own prefix). */
async function helloListening(...args: string[]): Promise<string[]> {
  return eventually(async () => {
    const lines = await tendLogs('app/hello', ...args);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/^\[(default\.hello-\S+)\] hello-server \1 listening on :\d+$/);
    return lines;
  }, { what: `tend logs app/hello ${args.join(' ')}` });
}

/** The example App over HTTPS, trusting tend up's local CA as the summary says to: its answer and the certificate's fingerprint. */
async function helloOverHttps(): Promise<{ body: string; fingerprint: string }> {
  const state = JSON.parse(readFileSync(join(dataDir, 'tend.json'), 'utf8')) as { https?: string };
  const port = Number(new URL(state.https!).port);
  const ca = readFileSync(join(dataDir, 'ca', 'ca.crt'), 'utf8');
  return eventually(async () => {
    const answer = await sendHttps(port, 'hello.localhost', '/', ca);
    return answer.status === 200 && answer.body.startsWith('hello from') ? answer : undefined;
  }, { what: 'https://hello.localhost through the edge' });
}

async function refused(port: number): Promise<boolean> {
  try {
    await send(port, 'hello.localhost', '/');
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

/**
 * The embedded PostgreSQL admits only tend: the password file and tend.json are 0600, TCP without
 * the password or with a wrong one is refused (no trust), the password is printed nowhere, and the
 * agent and the edge connect with logins of their own, not as the superuser.
 */
async function expectOnlyTendAdmitted(up: ServerProcess): Promise<void> {
  const password = readFileSync(join(dataDir, 'postgres.password'), 'utf8').trim();
  expect(password.length).toBeGreaterThanOrEqual(40);
  expect(statSync(join(dataDir, 'postgres.password')).mode & 0o777).toBe(0o600);
  expect(statSync(join(dataDir, 'tend.json')).mode & 0o777).toBe(0o600);
  expect(up.tail(200)).not.toContain(password);
  const noPassword = new URL(databaseUrl());
  noPassword.password = '';
  await expect(new pg.Client({ connectionString: noPassword.toString() }).connect()).rejects.toThrow();
  await expect(new pg.Client({ connectionString: databaseUrl('wrong-password') }).connect()).rejects.toThrow(/password authentication failed/);
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    const { rows } = await client.query<{ application_name: string; usename: string }>(
      `select distinct application_name, usename::text from pg_stat_activity where application_name in ('tend up agent', 'tend up edge') order by 1`,
    );
    expect(rows.map((r) => r.application_name)).toEqual(['tend up agent', 'tend up edge']);
    expect(rows.map((r) => r.usename)).toEqual([expect.stringMatching(/^postgres_node_[0-9a-f]{16}$/), expect.stringMatching(/^postgres_edge_[0-9a-f]{16}$/)]);
  } finally {
    await client.end();
  }
}

describe('tend up', () => {
  it('serves the example App through the edge, keeps its state across a stop, and survives kill -9', async () => {
    const port = await freePort();
    const first = await startUp(port, 1);
    console.log(`tend up: first start to the first answer through the edge in ${first.firstAnswerMs} ms (PostgreSQL initdb included)`);
    expect(first.process.tail(400)).toMatch(/tend is up .*\n\s+edge\s+http:\/\/127\.0\.0\.1:\d+/);
    expect(first.process.tail(400)).toMatch(/examples\s+applied on first start/);
    // HTTPS out of the box: the example Route's certificate comes from the local CA made now.
    expect(first.process.tail(400)).toMatch(/https\s+https:\/\/127\.0\.0\.1:\d+\s+try: curl --cacert \S+\/ca\/ca\.crt https:\/\/hello\.localhost:\d+\//);
    expect(first.process.tail(400)).toMatch(/local CA\s+\S+\/ca\/ca\.crt \(made now\): signs \*\.localhost names only/);
    const overHttps = await helloOverHttps();
    const counter = await waitForServer(first.process, 'the counter App through the edge', async () => {
      const answer = await send(port, 'counter.localhost', '/');
      return answer.status === 200 ? answer.body : undefined;
    });
    expect(counter).toContain('(visit 1)');
    const before = await snapshot();
    expect(before.resources.map((r) => `${r.kind}/${r.name}`)).toEqual(['App/counter', 'App/hello', 'Node/local', 'Route/counter', 'Route/hello', 'Tenant/demo', 'Volume/counter-data']);
    expect(before.instances).toHaveLength(3);
    await expectOnlyTendAdmitted(first.process);
    // What the example App's two instances print, merged (the agent shipped it into PostgreSQL).
    const firstRun = await helloListening();

    // An orderly stop ends everything: the edge, the instances and PostgreSQL.
    const url = databaseUrl();
    expect(await first.process.stop(30_000)).toMatchObject({ code: 0 });
    expect(await refused(port)).toBe(true);
    await expect(new pg.Client({ connectionString: url }).connect()).rejects.toThrow(/ECONNREFUSED/);

    const second = await startUp(port, 2);
    console.log(`tend up: restart to the first answer in ${second.firstAnswerMs} ms`);
    expect(second.process.tail(400)).not.toMatch(/examples\s+applied/);
    expect(await snapshot()).toEqual(before);
    // The counter's visits live in its volume: the restart kept them.
    const again = await waitForServer(second.process, 'the counter App again', async () => {
      const answer = await send(port, 'counter.localhost', '/');
      return answer.status === 200 ? answer.body : undefined;
    });
    expect(again).toContain('(visit 2)');
    // The same CA and the same certificate: nothing issued again at a restart.
    expect(second.process.tail(400)).not.toMatch(/made now/);
    expect((await helloOverHttps()).fingerprint).toBe(overHttps.fingerprint);
    // Started again: a new run of each instance; the first run is the previous one now.
    const secondRun = await helloListening();
    expect(await helloListening('--previous')).toEqual(firstRun);

    // kill -9: PostgreSQL and the instances outlive it; the next start adopts both.
    await second.process.kill();
    const third = await startUp(port, 3);
    expect(third.process.tail(400)).toMatch(/adopted from an earlier run/);
    expect(await snapshot()).toEqual(before);
    // Adopted, the instances' logs are read on from where they were shipped: nothing twice.
    expect(await helloListening()).toEqual(secondRun);
    await expectOnlyTendAdmitted(third.process);
    expect(await third.process.stop(30_000)).toMatchObject({ code: 0 });
    expect(await refused(port)).toBe(true);
  }, 240_000); // three starts of the whole platform, each up to 120 s on a loaded machine
});
