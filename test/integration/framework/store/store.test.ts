import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  compileStoreOptions,
  PoolExhaustedError,
  QueryError,
  Store,
  type NamedQuery,
  type StoreOptions,
} from '../../../../framework/store/index.js';
import { startPostgres } from '../../../env/postgres.js';
import { FreshDatabases } from '../../../env/fresh-database.js';

const databases = new FreshDatabases('tend_store');
const stores: Store[] = [];

async function freshStore(options: Omit<StoreOptions, 'connectionString'> = {}): Promise<Store> {
  const store = new Store({ connectionString: await databases.create(), ...options });
  stores.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
afterAll(() => databases.dropAll());

/** A pino logger whose JSON lines land in `lines`. */
function capturingLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void raw.push(line) });
  return { logger, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** Polls `condition` until it holds; fails with `what` at the deadline. */
async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sleep: NamedQuery = { name: 'test.sleep', text: 'select pg_sleep($1::float8)' };
const sleepWithSecret: NamedQuery = { name: 'test.sleep_with_secret', text: 'select pg_sleep($1::float8), $2::text as secret' };
const backendPid: NamedQuery = { name: 'test.backend_pid', text: 'select pg_backend_pid() as pid' };
const createNotes: NamedQuery = { name: 'test.create_notes', text: 'create table notes (body text not null)' };
const insertNote: NamedQuery = { name: 'test.insert_note', text: 'insert into notes (body) values ($1)' };
const countNotes: NamedQuery = { name: 'test.count_notes', text: 'select count(*)::int as n from notes' };

describe('compileStoreOptions', () => {
  it('fills in the documented defaults', () => {
    const options = compileStoreOptions({ connectionString: 'postgres://localhost/x' });
    expect(options).toMatchObject({
      poolSize: 10,
      statementTimeoutMs: 30_000,
      slowQueryMs: 200,
      connectionWaitMs: 5_000,
      applicationName: 'tend',
      preparedStatements: true,
    });
  });

  it('refuses a pool above 20 connections and other bad values with messages naming the option', () => {
    const url = 'postgres://localhost/x';
    expect(() => compileStoreOptions({ connectionString: url, poolSize: 21 })).toThrow(/poolSize must be an integer from 1 to 20, got 21/);
    expect(() => compileStoreOptions({ connectionString: url, poolSize: 0 })).toThrow(/poolSize/);
    expect(() => compileStoreOptions({ connectionString: url, connectionWaitMs: 0 })).toThrow(/connectionWaitMs/);
    expect(() => compileStoreOptions({ connectionString: url, statementTimeoutMs: -1 })).toThrow(/statementTimeoutMs/);
    expect(() => compileStoreOptions({ connectionString: url, slowQueryMs: 1.5 })).toThrow(/slowQueryMs/);
    expect(() => compileStoreOptions({ connectionString: url, applicationName: '' })).toThrow(/applicationName/);
    expect(() => compileStoreOptions({ connectionString: '' })).toThrow(/connectionString is required/);
  });
});

describe('Store', () => {
  it('runs named queries with parameters and reports pool occupancy', async () => {
    const store = await freshStore({ applicationName: 'tend-test' });
    const appName: NamedQuery = { name: 'test.app_name', text: "select current_setting('application_name') as name, $1::int as n" };

    expect(await store.query(appName, [7])).toEqual([{ name: 'tend-test', n: 7 }]);
    await store.ping();
    expect(store.stats()).toEqual({ total: 1, idle: 1, waiting: 0, max: 10 });
  });

  it('commits a transaction that succeeds and rolls back one that throws', async () => {
    const store = await freshStore();
    await store.query(createNotes);

    await store.tx(async (tx) => {
      await tx.query(insertNote, ['kept']);
    });
    const failure = new Error('changed my mind');
    await expect(
      store.tx(async (tx) => {
        await tx.query(insertNote, ['discarded']);
        throw failure;
      }),
    ).rejects.toBe(failure);

    expect(await store.query(countNotes)).toEqual([{ n: 1 }]);
    expect(store.stats().total).toBe(1);
  });

  it('runs queries without preparing them when preparedStatements is off', async () => {
    const store = await freshStore({ preparedStatements: false });
    const prepared: NamedQuery = { name: 'test.count_prepared', text: 'select count(*)::int as n from pg_prepared_statements' };

    await store.query(prepared);
    expect(await store.query(prepared)).toEqual([{ n: 0 }]);
  });

  it('prepares named queries by default', async () => {
    const store = await freshStore({ poolSize: 1 });
    const prepared: NamedQuery = { name: 'test.list_prepared', text: 'select name from pg_prepared_statements' };

    await store.query(prepared);
    expect(await store.query(prepared)).toEqual([{ name: 'test.list_prepared' }]);
  });

  it('throws PoolExhaustedError when every connection stays busy for the whole wait, then recovers', async () => {
    const store = await freshStore({ poolSize: 1, connectionWaitMs: 300 });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const holding = new Promise<void>((resolve) => (started = resolve));
    const busy = store.tx(async (tx) => {
      await tx.query(backendPid);
      started();
      await held;
    });
    await holding;

    const error = await store.query(backendPid).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(PoolExhaustedError);
    expect((error as Error).message).toMatch(/query test\.backend_pid: all 1 PostgreSQL connections stayed busy for 300 ms/);
    release();
    await busy;
    await expect(store.query(backendPid)).resolves.toHaveLength(1);
  });

  it('waits for the connections it holds when the server refuses one more, says so once, and opens them again when it stops refusing', async () => {
    const url = new URL(await databases.create());
    // A role's CONNECTION LIMIT refuses with the same SQLSTATE as max_connections (53300).
    const role = `${url.pathname.slice(1)}_limited`;
    const admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
    await admin.query(`create role ${admin.escapeIdentifier(role)} login password 'limited' connection limit 2`);
    await admin.end();
    url.username = role;
    url.password = 'limited';
    const { logger, lines } = capturingLogger();
    const store = new Store({ connectionString: url.toString(), poolSize: 5, refusalQuietMs: 1_500, logger });
    stores.push(store);

    // Five at once: the pool asks for five connections, the server gives two; all five run on them.
    const results = await Promise.all(Array.from({ length: 5 }, () => store.query(sleep, [0.2])));

    expect(results).toHaveLength(5);
    expect(store.health()).toMatchObject({ available: true, failures: { too_many_connections: 3 } });
    expect(store.stats()).toMatchObject({ total: 2, max: 2 });
    const refused = lines().filter((l) => String(l.msg).startsWith('PostgreSQL refuses new connections'));
    expect(refused).toHaveLength(1);
    expect(refused[0]!.msg).toContain("this role's CONNECTION LIMIT");
    expect(lines().filter((l) => String(l.msg).startsWith('PostgreSQL cannot be used'))).toEqual([]);
    // Nothing refused for 1.5 s: the cap doubles (the pool holds 2 of 2), then, with the pool below it, goes.
    await waitFor('the pool to open up to poolSize again', () => store.stats().max === 5);
    expect(lines().filter((l) => String(l.msg).startsWith('PostgreSQL refused no new connection'))).toHaveLength(1);
  });

  it('logs queries slower than slowQueryMs by name and duration, never their values', async () => {
    const { logger, lines } = capturingLogger();
    const store = await freshStore({ slowQueryMs: 50, logger });

    await store.query(sleepWithSecret, [0.2, 'hunter2']);
    await store.query(backendPid);

    const slow = lines().filter((line) => line.msg === 'slow query');
    expect(slow).toHaveLength(1);
    expect(slow[0]).toMatchObject({ level: 40, query: 'test.sleep_with_secret', outcome: 'ok' });
    expect(slow[0]!.durationMs).toBeGreaterThanOrEqual(200);
    expect(JSON.stringify(lines())).not.toContain('hunter2');
  });

  it('cancels a statement that runs past statementTimeoutMs and keeps the connection usable', async () => {
    const store = await freshStore({ poolSize: 1, statementTimeoutMs: 100 });
    const [before] = await store.query<{ pid: number }>(backendPid);

    const error = await store.query(sleep, [30]).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(QueryError);
    expect(error).toMatchObject({ queryName: 'test.sleep', code: '57014' });
    expect((error as Error).message).toMatch(/^query test\.sleep failed: canceling statement due to statement timeout/);
    expect(await store.query(backendPid)).toEqual([before]);
  });

  it('rejects queries after close', async () => {
    const store = await freshStore();
    await store.close();
    await store.close();

    await expect(store.query(backendPid)).rejects.toThrow(/test\.backend_pid/);
  });
});

describe('Store across a PostgreSQL restart', () => {
  it('fails the queries caught by the restart with errors naming them, then works again without a new Store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tend-store-restart-'));
    const server = await startPostgres(dir);
    const { logger, lines } = capturingLogger();
    const store = new Store({ connectionString: server.databaseUrl, poolSize: 3, logger });
    try {
      // Fill the pool with idle connections; while the server goes down keep one running a
      // query and one checked out by a transaction that is between statements.
      await Promise.all([store.query(sleep, [0.05]), store.query(sleep, [0.05]), store.query(sleep, [0.05])]);
      expect(store.stats().idle).toBe(3);
      const inFlight = store.query(sleep, [30]).catch((err: unknown) => err);
      let resume!: () => void;
      const paused = new Promise<void>((resolve) => (resume = resolve));
      const openTx = store
        .tx(async (tx) => {
          await tx.query(backendPid);
          await paused;
          await tx.query(backendPid);
        })
        .catch((err: unknown) => err);
      await waitFor('the sleep and the transaction to hold their connections', () => store.stats().idle === 1);

      // Fast shutdown (SIGINT) ends every session at once, as a failover or a crash would;
      // the harness's SIGTERM would wait for our idle connections to leave.
      process.kill(server.process!.pid!, 'SIGINT');
      await server.process!.stop();

      const lost = await inFlight;
      expect(lost).toBeInstanceOf(QueryError);
      expect((lost as Error).message).toMatch(/^query test\.sleep failed: /);
      resume();
      const txError = await openTx;
      expect(txError).toBeInstanceOf(QueryError);
      expect((txError as Error).message).toMatch(/^query test\.backend_pid failed: /);
      await waitFor('the pool to drop its dead connections', () => store.stats().total === 0);
      expect(lines().some((line) => line.msg === 'idle PostgreSQL connection failed; the pool dropped it')).toBe(true);
      await expect(store.query(backendPid)).rejects.toThrow(/^query test\.backend_pid failed: .*ECONNREFUSED/);

      await server.restart();

      const rows = await store.query<{ pid: number }>(backendPid);
      expect(rows[0]!.pid).toBeGreaterThan(0);
      await store.ping();
    } finally {
      await store.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
