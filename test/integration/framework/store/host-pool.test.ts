/**
 * A Store over a host list (framework/store/host-pool.ts) against two real servers: it takes the
 * first host that gives a read-write session, skips one that refuses or is read-only, and when
 * the server it uses turns read-only under its open connections (25006 on a write) it drops them
 * all and moves to the other host, without a new Store. The failover with a real standby is
 * test/integration/reliability/postgres-failover.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NoAcceptableHostError, QueryError, Store, connectClient, type NamedQuery } from '../../../../framework/store/index.js';
import { freePort } from '../../../env/ports.js';
import { startPostgres, type Postgres } from '../../../env/postgres.js';

const DB = 'tend_host_pool';
const serverPort: NamedQuery = { name: 'test.server_port', text: 'select inet_server_port() as port' };
const insert: NamedQuery = { name: 'test.insert', text: 'insert into notes (body) values ($1)' };
const dirs: string[] = [];
let a: Postgres;
let b: Postgres;
let portA: number;
let portB: number;

beforeAll(async () => {
  [a, b] = await Promise.all([0, 1].map(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tend-host-pool-'));
    dirs.push(dir);
    return startPostgres(dir);
  })) as [Postgres, Postgres];
  for (const server of [a, b]) {
    await admin(server.adminUrl, `create database ${DB}`);
    await admin(server.adminUrl.replace(/\/postgres$/, `/${DB}`), 'create table notes (body text not null)');
  }
  [portA, portB] = [a, b].map((s) => Number(new URL(s.adminUrl).port)) as [number, number];
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const listUrl = (...ports: number[]) => `postgres://postgres@${ports.map((p) => `127.0.0.1:${p}`).join(',')}/${DB}?target_session_attrs=read-write`;

function capturingLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void raw.push(line) });
  return { logger, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('a Store over a host list', () => {
  it('skips a host that refuses connections and uses the next', async () => {
    const dead = await freePort();
    await using store = new Store({ connectionString: listUrl(dead, portA), poolSize: 2 });
    expect((await store.query<{ port: number }>(serverPort))[0]!.port).toBe(portA);
    const client = await connectClient(listUrl(dead, portA));
    expect((await client.query<{ port: number }>('select inet_server_port() as port')).rows[0]!.port).toBe(portA);
    await client.end();
  });

  it('drops every connection to a server that turns read-only, and writes on the other host', async () => {
    const { logger, lines } = capturingLogger();
    await using store = new Store({ connectionString: listUrl(portA, portB), poolSize: 3, logger });
    // Three open connections to a, all idle in the pool.
    const first = await Promise.all([0, 1, 2].map(() => store.query<{ port: number }>({ name: 'test.slow_port', text: 'select inet_server_port() as port, pg_sleep(0.05)' })));
    expect(first.map((r) => r[0]!.port)).toEqual([portA, portA, portA]);
    expect(store.stats().idle).toBe(3);

    // What a demotion without a restart looks like to open sessions.
    await admin(a.adminUrl, 'alter system set default_transaction_read_only = on');
    await admin(a.adminUrl, 'select pg_reload_conf()');
    try {
      let refused: unknown;
      // The reload reaches each backend a moment later; until then writes may still pass.
      for (let i = 0; i < 200 && refused === undefined; i++) {
        refused = await store.query(insert, ['while a turns read-only']).then(() => undefined, (err: unknown) => err);
        if (refused === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(refused).toBeInstanceOf(QueryError);
      expect((refused as QueryError).code).toBe('25006');
      expect(store.health().failures.read_only).toBe(1);
      expect(lines().some((l) => l.msg === 'PostgreSQL refused a write as read-only: its connections are dropped; new ones go to the host that takes writes')).toBe(true);

      // No retry loop: the very next writes go to b, on every connection.
      await store.query(insert, ['after']);
      const after = await Promise.all([0, 1, 2].map(() => store.query<{ port: number }>({ name: 'test.slow_port', text: 'select inet_server_port() as port, pg_sleep(0.05)' })));
      expect(after.map((r) => r[0]!.port)).toEqual([portB, portB, portB]);
      expect(store.health().available).toBe(true);

      // A new Store skips the read-only host at connect (the target_session_attrs check).
      await using fresh = new Store({ connectionString: listUrl(portA, portB), poolSize: 1 });
      expect((await fresh.query<{ port: number }>(serverPort))[0]!.port).toBe(portB);
    } finally {
      await admin(a.adminUrl, 'alter system reset default_transaction_read_only');
      await admin(a.adminUrl, 'select pg_reload_conf()');
    }
  });

  it('caps its pool when the host it uses is at its connection limit, instead of moving on to a host that takes no writes', async () => {
    // a at its limit (a role's CONNECTION LIMIT: the same SQLSTATE 53300 as max_connections), b read-only.
    const role = 'tend_host_pool_limited';
    for (const server of [a, b]) await admin(server.adminUrl, `drop role if exists ${role}`);
    await admin(a.adminUrl, `create role ${role} login password 'limited' connection limit 2`);
    await admin(b.adminUrl, `create role ${role} login password 'limited'`);
    await admin(b.adminUrl, 'alter system set default_transaction_read_only = on');
    await admin(b.adminUrl, 'select pg_reload_conf()');
    try {
      const url = `postgres://${role}:limited@127.0.0.1:${portA},127.0.0.1:${portB}/${DB}?target_session_attrs=read-write`;
      await using store = new Store({ connectionString: url, poolSize: 5 });
      const ports = await Promise.all(Array.from({ length: 5 }, () => store.query<{ port: number }>({ name: 'test.slow_port', text: 'select inet_server_port() as port, pg_sleep(0.2)' })));
      expect(ports.map((r) => r[0]!.port)).toEqual([portA, portA, portA, portA, portA]);
      expect(store.health()).toMatchObject({ available: true, failures: { too_many_connections: 3, unreachable: 0 } });
      expect(store.stats()).toMatchObject({ total: 2, max: 2 });
    } finally {
      await admin(b.adminUrl, 'alter system reset default_transaction_read_only');
      await admin(b.adminUrl, 'select pg_reload_conf()');
    }
  });

  it('says why each host was not taken when none gives a read-write session', async () => {
    const dead = await freePort();
    await admin(a.adminUrl, 'alter system set default_transaction_read_only = on');
    await admin(a.adminUrl, 'select pg_reload_conf()');
    try {
      await using store = new Store({ connectionString: listUrl(dead, portA), poolSize: 1 });
      const err = await store.query(serverPort).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueryError);
      const cause = (err as QueryError).cause;
      expect(cause).toBeInstanceOf(NoAcceptableHostError);
      expect((cause as Error).message).toBe(
        `no host gave a read-write session: 127.0.0.1:${dead}: connect ECONNREFUSED 127.0.0.1:${dead}; 127.0.0.1:${portA}: sessions are read-only (default_transaction_read_only)`,
      );
      expect(store.health()).toMatchObject({ available: false, failures: { unreachable: 1 } });
      await expect(connectClient(listUrl(dead, portA))).rejects.toThrow(NoAcceptableHostError);
    } finally {
      await admin(a.adminUrl, 'alter system reset default_transaction_read_only');
      await admin(a.adminUrl, 'select pg_reload_conf()');
    }
  });
});
