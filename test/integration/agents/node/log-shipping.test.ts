/**
 * The agent's log shipping against a real PostgreSQL: what reaches platform.instance_logs, what
 * is pruned (two newest runs, the newest --log-keep-bytes of each), and that chunks are handed
 * out again until the database has them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resumeLogs, shipLogs } from '../../../../agents/node/log-shipping.js';
import type { InstanceLogSource, LogChunk, LogPosition } from '../../../../agents/node/runtime/runtime.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate, type NamedQuery } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';

const logger = createLogger({ level: 'silent' });
const databases = new FreshDatabases('logship');
let store: Store;
const sql = (text: string): NamedQuery => ({ name: `test.${text.slice(0, 30)}`, text });

beforeAll(async () => {
  store = new Store({ connectionString: await databases.create(), logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  for (const node of ['n1', 'n2']) await store.query(sql(`insert into platform.nodes (name, uid, generation, state, allocatable_memory, allocatable_cpu) values ($1, $1, 1, 'ready', 1073741824, 2000)`), [node]);
  for (const [id, node] of [['a', 'n1'], ['b', 'n1'], ['other', 'n2']]) {
    await store.query(sql(`insert into platform.instances (id, app, tenant, revision, node, memory, cpu, spec) values ($1, 'default/web', 'acme', 'r1', $2, 1, 1, '{"command":["x"]}')`), [id, node]);
  }
}, 60_000);

afterAll(async () => {
  await store?.close();
  await databases.dropAll();
});

/** A runtime's log source that hands out what the test queues, as InstanceLogs does: again until stored. */
class QueuedLogs implements InstanceLogSource {
  readonly pending: LogChunk[] = [];
  resumed: ReadonlyMap<string, LogPosition> | undefined;
  takes = 0;
  resume(positions: ReadonlyMap<string, LogPosition>): void {
    this.resumed = positions;
  }
  take(): LogChunk[] {
    this.takes++;
    return [...this.pending];
  }
  stored(chunks: readonly LogChunk[]): void {
    for (const c of chunks) if (this.pending[0] === c) this.pending.shift();
  }
}

let at = Date.parse('2026-01-01T00:00:00Z');
const chunk = (instance: string, run: string, text: string, offset = 0): LogChunk => ({ instance, run: `2026-01-01T00:00:0${run}.000Z`, text, lines: text.split('\n').length - 1, at: at++, offset });

async function ship(logs: QueuedLogs, until: () => Promise<boolean>, options: { keepBytes?: number; pruneMs?: number } = {}, on = store): Promise<void> {
  const stop = new AbortController();
  const done = shipLogs({ node: 'n1', store: on, logs, logger, flushMs: 20, pruneMs: options.pruneMs ?? 50, ...(options.keepBytes ? { keepBytes: options.keepBytes } : {}) }, stop.signal);
  try {
    await eventually(async () => ((await until()) ? true : undefined), { what: 'shipped', timeoutMs: 10_000 });
  } finally {
    stop.abort();
    await done;
  }
}

const rowsOf = (instance: string) =>
  store.query<{ run: Date; lines: string; bytes: number }>(sql('select run_started as run, lines, bytes from platform.instance_logs where instance = $1 order by id'), [instance]);

describe('log shipping', () => {
  it("stores each pass's chunks of this node's instances in order, drops another node's, and resumes from the newest", async () => {
    const logs = new QueuedLogs();
    logs.pending.push(chunk('a', '1', ''), chunk('a', '1', 'one\n', 4), chunk('other', '1', 'not mine\n'), chunk('a', '1', 'two\nthree\n', 14), chunk('b', '1', 'b says\n', 7));
    await ship(logs, async () => logs.pending.length === 0);
    expect((await rowsOf('a')).map((r) => r.lines)).toEqual(['', 'one\n', 'two\nthree\n']);
    expect((await rowsOf('b')).map((r) => [r.lines, r.bytes])).toEqual([['b says\n', 7]]);
    expect(await rowsOf('other')).toEqual([]);
    const next = new QueuedLogs();
    await resumeLogs({ node: 'n1', store, logs: next, logger }, new AbortController().signal);
    expect(next.resumed).toEqual(new Map([['a', { run: '2026-01-01T00:00:01.000Z', offset: 14 }], ['b', { run: '2026-01-01T00:00:01.000Z', offset: 7 }]]));
  });

  it('keeps the two newest runs of an instance, the newest keepBytes of each, and always its newest chunk', async () => {
    const logs = new QueuedLogs();
    for (const run of ['2', '3', '4']) for (let i = 0; i < 5; i++) logs.pending.push(chunk('a', run, `${run}:${i}-${'x'.repeat(5)}\n`, i));
    await ship(logs, async () => logs.pending.length === 0 && (await rowsOf('a')).length === 6, { keepBytes: 30 });
    // 10 bytes a chunk: of runs 3 and 4 the newest three (the third one is where 30 bytes are reached).
    expect((await rowsOf('a')).map((r) => r.lines.slice(0, 3))).toEqual(['3:2', '3:3', '3:4', '4:2', '4:3', '4:4']);
  });

  it('hands the same chunks out again while the database is unreachable, and stores them once it answers', async () => {
    const unreachable = new Store({ connectionString: 'postgres://nobody@127.0.0.1:1/none', logger, connectionWaitMs: 200 });
    const logs = new QueuedLogs();
    logs.pending.push(chunk('b', '5', 'waited\n', 14));
    await ship(logs, async () => logs.takes >= 3, {}, unreachable);
    await unreachable.close();
    expect(logs.pending).toHaveLength(1);
    await ship(logs, async () => logs.pending.length === 0);
    expect((await rowsOf('b')).map((r) => r.lines)).toContain('waited\n');
  });
});
