/** The shared LISTEN connection against a real PostgreSQL: one connection for every channel, replaced when killed. */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../framework/log/logger.js';
import { PostgresListener } from '../../../../framework/source/postgres-listener.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';

const databases = new FreshDatabases('tend_listener');
let url: string;
let admin: pg.Client;

beforeAll(async () => {
  url = await databases.create();
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await databases.dropAll();
});

const listening = async (): Promise<number[]> =>
  (await admin.query<{ pid: number }>(`select pid from pg_stat_activity where application_name = 'test listen' and datname = current_database()`)).rows.map((r) => r.pid);

describe('PostgresListener', () => {
  it('listens on every channel over one connection, tells everyone after a reconnect, and closes after the last leaves', async () => {
    const listener = new PostgresListener({ connectionString: url, logger: createLogger({ level: 'silent' }), applicationName: 'test listen', maxRetryDelayMs: 100 });
    const got: string[] = [];
    const caughtUp = { a: 0, b: 0 };
    const leaveA = listener.subscribe('chan_a', { onNotification: (p) => got.push(`a:${p}`), onListening: () => void caughtUp.a++ });
    await eventually(() => (caughtUp.a === 1 ? true : undefined), { what: 'a listening' });
    // Subscribed while the connection is up: added to it, not given a connection of its own.
    const leaveB = listener.subscribe('chan_b', { onNotification: (p) => got.push(`b:${p}`), onListening: () => void caughtUp.b++ });
    await eventually(() => (caughtUp.b === 1 ? true : undefined), { what: 'b listening' });
    await admin.query(`select pg_notify('chan_a', '1'), pg_notify('chan_b', '2')`);
    await eventually(() => (got.length === 2 ? true : undefined), { what: 'both notifications' });
    const [pid, ...others] = await listening();
    expect(others).toEqual([]);

    await admin.query('select pg_terminate_backend($1)', [pid]);
    await eventually(() => (caughtUp.a === 2 && caughtUp.b === 2 ? true : undefined), { what: 'both told after the reconnect', timeoutMs: 10_000 });
    await admin.query(`select pg_notify('chan_a', '3'), pg_notify('chan_b', '4')`);
    await eventually(() => (got.length === 4 ? true : undefined), { what: 'notifications on the new connection' });
    expect(got.sort()).toEqual(['a:1', 'a:3', 'b:2', 'b:4']);
    expect((await listening()).filter((p) => p !== pid)).toHaveLength(1);

    leaveA();
    leaveB();
    await eventually(async () => ((await listening()).length === 0 ? true : undefined), { what: 'the connection closed' });
  });
});
