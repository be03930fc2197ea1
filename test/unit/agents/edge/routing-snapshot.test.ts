import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RoutingSnapshot, parseSnapshot } from '../../../../agents/edge/routing-snapshot.js';
import { RoutingTable, type RoutingRow } from '../../../../agents/edge/routing-table.js';

const row = (host: string, port: number): RoutingRow => ({ host, pathPrefix: '/', route: `ns/${host}`, backends: [{ address: '127.0.0.1', port, instance: `i-${port}` }] });
const folder = () => mkdtempSync(join(tmpdir(), 'tend-snapshot-'));

describe('the routing snapshot', () => {
  it('reads back the version, rows and time it was written with, from a file only its owner can read', async () => {
    const dir = folder();
    const snapshot = new RoutingSnapshot(join(dir, 'edge', 'routing.json'));
    const at = new Date('2026-12-02T10:00:00.000Z');
    await snapshot.write(42n, [row('a.test', 1001), row('b.test', 1002)], at);
    expect(await snapshot.read()).toEqual({ kind: 'table', table: { version: 42n, routes: [row('a.test', 1001), row('b.test', 1002)], savedAt: at } });
    expect(statSync(snapshot.path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'edge')).mode & 0o777).toBe(0o700);
  });

  it('is replaced by a newer table and leaves no temporary file behind', async () => {
    const dir = folder();
    const snapshot = new RoutingSnapshot(join(dir, 'routing.json'));
    await snapshot.write(1n, [row('a.test', 1001)]);
    await snapshot.write(2n, [row('b.test', 1002)]);
    const read = await snapshot.read();
    expect(read.kind === 'table' && read.table.version).toBe(2n);
    expect(readdirSync(dir)).toEqual(['routing.json']);
  });

  it('is never seen half written while it is being replaced', async () => {
    const snapshot = new RoutingSnapshot(join(folder(), 'routing.json'));
    // Big enough that one write takes several system calls.
    const rows = (n: number) => Array.from({ length: 2_000 }, (_, i) => row(`h${i}.n${n}.test`, 1_000 + (i % 60_000)));
    await snapshot.write(0n, rows(0));
    const writes = (async () => {
      for (let n = 1; n <= 20; n++) await snapshot.write(BigInt(n), rows(n));
    })();
    const kinds = new Set<string>();
    let done = false;
    void writes.then(() => (done = true));
    while (!done) kinds.add((await snapshot.read()).kind);
    await writes;
    expect([...kinds]).toEqual(['table']);
  });

  it('keeps the previous snapshot when a write fails', async () => {
    const dir = folder();
    const snapshot = new RoutingSnapshot(join(dir, 'routing.json'));
    await snapshot.write(5n, [row('a.test', 1001)]);
    const blocked = new RoutingSnapshot(join(dir, 'routing.json', 'inside'));
    await expect(blocked.write(6n, [])).rejects.toThrow();
    const read = await snapshot.read();
    expect(read.kind === 'table' && read.table.version).toBe(5n);
    expect(readdirSync(dir)).toEqual(['routing.json']);
  });

  it('says there is none when the file does not exist, and why a file cannot be used', async () => {
    const dir = folder();
    expect(await new RoutingSnapshot(join(dir, 'missing.json')).read()).toEqual({ kind: 'none' });
    writeFileSync(join(dir, 'torn.json'), '{"format":"tend.dev/routing-snapshot/v1","version":"3","rou');
    expect(await new RoutingSnapshot(join(dir, 'torn.json')).read()).toMatchObject({ kind: 'unusable', reason: expect.stringMatching(/^not JSON/) });
    expect(parseSnapshot('[]')).toMatchObject({ kind: 'unusable', reason: 'format undefined is not tend.dev/routing-snapshot/v1' });
    expect(parseSnapshot('{"format":"other/v9","version":"1","savedAt":"2026-01-01T00:00:00Z","routes":[]}')).toMatchObject({ kind: 'unusable', reason: expect.stringContaining('"other/v9"') });
    const base = { format: 'tend.dev/routing-snapshot/v1', version: '1', savedAt: '2026-01-01T00:00:00Z', routes: [] };
    expect(parseSnapshot(JSON.stringify({ ...base, version: -1 }))).toEqual({ kind: 'unusable', reason: 'version is not a whole number' });
    expect(parseSnapshot(JSON.stringify({ ...base, savedAt: 'yesterday' }))).toEqual({ kind: 'unusable', reason: 'savedAt is not a time' });
    expect(parseSnapshot(JSON.stringify({ ...base, routes: [null] }))).toEqual({ kind: 'unusable', reason: 'routes is not an array of objects' });
  });

  it('holds what the table was built from, so a table built from it routes to the same backends only', async () => {
    const snapshot = new RoutingSnapshot(join(folder(), 'routing.json'));
    const rows = [row('a.test', 1001), { ...row('bad.test', 1003), backends: [{ address: '', port: 0 }] }];
    await snapshot.write(9n, rows);
    const read = await snapshot.read();
    if (read.kind !== 'table') throw new Error(`no table: ${JSON.stringify(read)}`);
    const table = RoutingTable.build(read.table.version, read.table.routes);
    expect(table.entries.map((e) => [e.host, e.backends.map((b) => b.port)])).toEqual([['a.test', [1001]]]);
    expect(table.problems).toHaveLength(1);
    expect(JSON.parse(readFileSync(snapshot.path, 'utf8')).routes).toEqual(rows);
  });
});
