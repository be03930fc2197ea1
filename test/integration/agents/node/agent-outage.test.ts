/**
 * A node agent outlives a PostgreSQL outage. With no instances nothing else holds its event loop
 * open, so before the fix its retry sleep (an unref'd timer) let the process exit with code 13
 * within a second of PostgreSQL stopping, and its Node went NodeLost.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { eventually } from '../../../env/eventually.js';
import { startPostgres, type Postgres } from '../../../env/postgres.js';
import type { ServerProcess } from '../../../env/server-process.js';
import { startTend } from '../../../env/tend-process.js';

let dir: string;
let postgres: Postgres;
let store: Store;
let agent: ServerProcess | undefined;
const logger = createLogger({ level: 'silent' });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tend-agent-outage-'));
  // This test stops PostgreSQL, so it needs a server of its own even when DATABASE_URL names one.
  postgres = await startPostgres(dir);
  store = new Store({ connectionString: postgres.databaseUrl, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await store?.close();
  await postgres?.stop();
});

const heartbeat = async (): Promise<number | undefined> => {
  const rows = await store.query<{ at: Date }>({ name: 'test.agent_heartbeat', text: `select heartbeat_at as at from platform.node_agents where node = 'quiet'` }, []);
  return rows[0]?.at.getTime();
};

const retries = (logFile: string): number => readFileSync(logFile, 'utf8').split('\n').filter((line) => line.includes('agent pass failed')).length;

describe('a node agent with no instances', () => {
  it('keeps retrying while PostgreSQL is down and heartbeats again once it is back', async () => {
    const logFile = join(dir, 'agent.log');
    agent = startTend('agent-quiet', ['agent', '--node', 'quiet', '--database-url', postgres.databaseUrl, '--state-dir', join(dir, 'agent-quiet'), '--heartbeat-ms', '200', '--poll-ms', '200'], logFile);
    const first = await eventually(heartbeat, { what: 'the first heartbeat', timeoutMs: 30_000 });

    await postgres.process!.stop();
    // Three failed passes take seconds: the agent is alive through them (it died within one before).
    await eventually(async () => (retries(logFile) >= 3 ? true : (await exitedYet(agent!)) ? fail(logFile) : undefined), { what: 'three failed agent passes', timeoutMs: 30_000 });
    expect(await exitedYet(agent)).toBe(false);

    await postgres.restart();
    await eventually(async () => ((await heartbeat().catch(() => undefined)) ?? 0) > first || undefined, { what: 'a heartbeat after PostgreSQL is back', timeoutMs: 30_000 });
  }, 120_000);
});

async function exitedYet(process: ServerProcess): Promise<boolean> {
  return Promise.race([process.exited.then(() => true), new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))]);
}

function fail(logFile: string): never {
  throw new Error(`the agent exited while PostgreSQL was down:\n${readFileSync(logFile, 'utf8').slice(-2_000)}`);
}
