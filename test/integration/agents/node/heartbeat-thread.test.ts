/**
 * The agent's heartbeat thread against a real PostgreSQL: it beats while the agent's event loop is
 * blocked (as spawning many instances blocks it), and withholds beats once the loop has been
 * silent for `stallMs`, so a wedged agent still loses its node. Each beat is logged by a trigger
 * this test adds, so beats made while this very thread was blocked can be counted afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHeartbeatThread, type HeartbeatThreadOptions } from '../../../../agents/node/heartbeat-thread.js';
import { heartbeatAgent } from '../../../../agents/node/agent-queries.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';

const logger = createLogger({ level: 'silent' });
const databases = new FreshDatabases('heartbeat_thread');
let url: string;
let store: Store;

beforeAll(async () => {
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  for (const [name, text] of [
    ['test.beat_table', `create table beats (node text, at timestamptz default clock_timestamp())`],
    ['test.beat_function', `create function log_beat() returns trigger language plpgsql as $$ begin insert into beats (node) values (new.node); return null; end $$`],
    ['test.beat_trigger', `create trigger log_beat after insert or update on platform.node_agents for each row execute function log_beat()`],
  ] as const) await store.query({ name, text });
});

afterAll(async () => {
  await store?.close();
  await databases.dropAll();
});

const options = (node: string, extra: Partial<HeartbeatThreadOptions> = {}): HeartbeatThreadOptions => ({
  connectionString: url,
  applicationName: 'test heartbeat',
  query: heartbeatAgent,
  values: [node, '2026-01-01T00:00:00Z', 2000, 2 ** 32, 2 ** 34, 'rss-polling', false, 'not sandboxed in this test', null],
  intervalMs: 100,
  logger,
  ...extra,
});

const beatsBetween = async (node: string, from: Date, to: Date) =>
  (await store.query<{ n: number }>({ name: 'test.beats_between', text: 'select count(*)::int as n from beats where node = $1 and at between $2 and $3' }, [node, from, to]))[0]!.n;

/** Blocks this thread's event loop, as a burst of synchronous spawns does. */
function block(ms: number): { from: Date; to: Date } {
  const from = new Date();
  while (Date.now() - from.getTime() < ms) { /* busy */ }
  return { from, to: new Date() };
}

describe('the heartbeat thread', () => {
  it('keeps beating while the agent\'s event loop is blocked', async () => {
    const thread = startHeartbeatThread(options('busy'));
    try {
      await eventually(async () => ((await beatsBetween('busy', new Date(0), new Date())) > 0 ? true : undefined), { what: 'a first beat' });
      const { from, to } = block(1_500);
      // Every 100 ms: a dozen beats in 1.5 s, give or take a loaded machine; none would be made on the blocked loop.
      expect(await beatsBetween('busy', from, to)).toBeGreaterThanOrEqual(4);
    } finally {
      await thread.stop();
    }
  });

  it('withholds beats once the agent\'s loop has been silent for stallMs, and beats again when it comes back', async () => {
    const thread = startHeartbeatThread(options('wedged', { stallMs: 300 }));
    const alive = setInterval(() => thread.alive(), 50);
    try {
      await eventually(async () => ((await beatsBetween('wedged', new Date(0), new Date())) > 0 ? true : undefined), { what: 'a first beat' });
      const { from, to } = block(1_500);
      // Beats may go on for stallMs (+ one interval) after the last sign of life, not longer.
      expect(await beatsBetween('wedged', new Date(from.getTime() + 600), to)).toBe(0);
      const back = new Date();
      await eventually(async () => ((await beatsBetween('wedged', back, new Date())) > 0 ? true : undefined), { what: 'beats after the loop is back' });
    } finally {
      clearInterval(alive);
      await thread.stop();
    }
  });
});
