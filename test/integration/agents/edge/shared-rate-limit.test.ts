/**
 * Rate limits shared across edges (issue 19 §2): a Route limited to 100 requests per second is
 * admitted at 100 per second by all `tend edge` processes together — two, then three — each with
 * its own login, under twice that load from a client that spreads it and fails over as a load
 * balancer does. Evenly spread or nine tenths on one edge, the total is within ±10 % of the limit;
 * when an edge joins, is killed with SIGKILL, or is started again, it is back within ±10 % in
 * seconds. The edges meet only in platform.edge_members; no request waits for PostgreSQL.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../../framework/store/index.js';
import { platformMigrations } from '../../../../migrations/index.js';
import { enrolledCredentials } from '../../../env/enroll.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';
import { metric } from '../../../env/http-request.js';
import { freePort } from '../../../env/ports.js';
import { waitForServer, type ServerProcess } from '../../../env/server-process.js';
import { startTend } from '../../../env/tend-process.js';
import { PacedLoad } from './paced-load.js';
import { setRoute } from './routing-rows.js';
import { startBackend, type TestBackend } from './test-backend.js';

const LIMIT = 100;
const HOST = 'limited.test';
const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('edge_shared_limit');
const dir = mkdtempSync(join(tmpdir(), 'tend-shared-limit-'));
let store: Store;
let backend: TestBackend;
let load: PacedLoad | undefined;

interface EdgeSlot {
  readonly name: string;
  readonly http: number;
  readonly admin: number;
  readonly credentials: string;
  process?: ServerProcess;
  starts: number;
}
const edges: EdgeSlot[] = [];

function start(edge: EdgeSlot): ServerProcess {
  edge.starts++;
  edge.process = startTend(`tend edge ${edge.name}`, [
    'edge', '--listen', `127.0.0.1:${edge.http}`, '--admin-listen', `127.0.0.1:${edge.admin}`,
    '--credentials-file', edge.credentials, '--state-dir', join(dir, edge.name), '--log-level', 'warn',
  ], join(dir, `${edge.name}-${edge.starts}.log`));
  return edge.process;
}

const listening = (edge: EdgeSlot) =>
  waitForServer(edge.process!, 'its listening line', async () => (/^tend edge: proxy /m.test(readFileSync(join(dir, `${edge.name}-${edge.starts}.log`), 'utf8')) ? true : undefined));

/** Waits until every edge in `running` counts exactly `running.length` edge processes. */
const membersSeen = (running: readonly EdgeSlot[]) =>
  eventually(async () => {
    const counts = await Promise.all(running.map((e) => metric(`http://127.0.0.1:${e.admin}/metrics`, 'tend_edge_members')));
    return counts.every((c) => c === running.length) ? true : undefined;
  }, { what: `${running.length} edges see each other` });

const within = (rate: number) => Math.abs(rate - LIMIT) <= LIMIT * 0.1;

/**
 * Waits (deadline `timeoutMs`) until the admitted rate of the last 2 s — all of it later than
 * `since` — is within ±10 % of the limit; returns how long after `since` that was.
 */
async function settles(since: number, what: string, timeoutMs = 15_000): Promise<number> {
  try {
    return await eventually(() => {
      const now = performance.now();
      if (now - 2_000 < since) return undefined;
      return within(load!.admitted(now - 2_000, now)) ? Math.round(now - since) : undefined;
    }, { timeoutMs, what });
  } catch (err) {
    throw new Error(`${(err as Error).message}; admitted per second since: ${load!.series(since).join(' ')}`);
  }
}

/** The admitted rate over the next `ms` (the measurement takes that long), all edges and each. */
async function measure(ms: number): Promise<{ total: number; each: number[] }> {
  const from = performance.now();
  await eventually(() => (performance.now() - from >= ms ? true : undefined), { timeoutMs: ms + 5_000, what: 'the measurement window' });
  const to = from + ms;
  return { total: load!.admitted(from, to), each: edges.map((_, i) => Math.round(load!.admitted(from, to, i))) };
}

beforeAll(async () => {
  const url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  backend = await startBackend('blue', (_req, res) => res.end('ok'));
  // A small burst: the test measures the steady rate, which the burst would blur.
  await setRoute(store, HOST, '/', 'ns/limited', [backend.row], { requestsPerSecond: LIMIT, burst: 10 });
  for (const name of ['edge-a', 'edge-b', 'edge-c']) {
    edges.push({ name, http: await freePort(), admin: await freePort(), credentials: await enrolledCredentials(url, 'edge', name, dir), starts: 0 });
  }
  start(edges[0]!);
  start(edges[1]!);
  await Promise.all([listening(edges[0]!), listening(edges[1]!)]);
  await membersSeen([edges[0]!, edges[1]!]);
});

afterAll(async () => {
  await load?.stop();
  await Promise.all(edges.map((e) => e.process?.kill()));
  await backend?.close();
  await store?.close();
  await databases.dropAll();
});

describe('a rate limit shared by the running edges', () => {
  it('is admitted once by two edges together, not once by each: evenly loaded, and with nine tenths of the load on one', async () => {
    load = new PacedLoad({ ports: edges.map((e) => e.http), host: HOST, ratePerSecond: 2 * LIMIT });
    load.setWeights([1, 1, 0]);
    const began = performance.now();
    const settled = await settles(began, 'two edges admit the limit');
    const even = await measure(5_000);
    expect(within(even.total), `${even.total}/s (edges ${even.each.join(', ')})`).toBe(true);
    // Each edge admits about half.
    for (const each of even.each.slice(0, 2)) expect(Math.abs(each - LIMIT / 2)).toBeLessThanOrEqual(LIMIT * 0.1);

    // Shares follow demand: an equal split would admit 50 + 20 = 70 here.
    load.setWeights([9, 1, 0]);
    const skewed = performance.now();
    const resettled = await settles(skewed, 'two edges admit the limit under a skewed load');
    const uneven = await measure(5_000);
    expect(within(uneven.total), `${uneven.total}/s (edges ${uneven.each.join(', ')})`).toBe(true);
    console.log(`two edges, limit ${LIMIT}/s, ${2 * LIMIT}/s offered: even ${even.total.toFixed(1)}/s (${even.each.slice(0, 2).join(' + ')}), within ±10 % after ${settled} ms; 9:1 ${uneven.total.toFixed(1)}/s (${uneven.each.slice(0, 2).join(' + ')}), after ${resettled} ms`);
    load.setWeights([1, 1, 0]);
  });

  it('is admitted once by three edges, and again within seconds after one joins, one is killed and one restarts', async () => {
    const [a, b, c] = edges as [EdgeSlot, EdgeSlot, EdgeSlot];
    start(c);
    await listening(c);
    const joined = performance.now();
    load!.setWeights([1, 1, 1]);
    const afterJoin = await settles(joined, 'three edges admit the limit after edge-c joined');
    await membersSeen([a, b, c]);
    const three = await measure(5_000);
    expect(within(three.total), `${three.total}/s (edges ${three.each.join(', ')})`).toBe(true);

    // SIGKILL: no goodbye, its row expires. The client fails its share over to edge-c.
    const killedAt = performance.now();
    expect(await b.process!.kill()).toMatchObject({ signal: 'SIGKILL' });
    const afterKill = await settles(killedAt, 'two edges admit the limit after edge-b was killed');
    const two = await measure(4_000);
    expect(within(two.total), `${two.total}/s (edges ${two.each.join(', ')})`).toBe(true);
    // Until its row expired the others admitted less, never more.
    const peakAfterKill = Math.max(...load!.series(killedAt));

    // Started again (same login, new member row): admitted at its share from its first request.
    start(b);
    await listening(b);
    const restartedAt = performance.now();
    const afterRestart = await settles(restartedAt, 'three edges admit the limit after edge-b restarted');
    await membersSeen([a, b, c]);
    const again = await measure(5_000);
    expect(within(again.total), `${again.total}/s (edges ${again.each.join(', ')})`).toBe(true);
    expect(again.each[1]).toBeGreaterThan(LIMIT / 6);
    // Joining does not push the total over: the newcomer starts at a share the others' demand leaves it.
    const overshoot = Math.max(...load!.series(restartedAt - 1_000));
    expect(overshoot, `admitted per second around the restart: ${load!.series(restartedAt - 1_000).join(' ')}`).toBeLessThanOrEqual(LIMIT * 1.1 + 10);
    expect(load!.failed).toBe(0);
    console.log(
      `three edges, limit ${LIMIT}/s: ${three.total.toFixed(1)}/s (${three.each.join(' + ')}), within ±10 % ${afterJoin} ms after edge-c joined; ` +
        `edge-b killed: within ±10 % after ${afterKill} ms (peak ${peakAfterKill}/s meanwhile), then ${two.total.toFixed(1)}/s on two; ` +
        `restarted: within ±10 % after ${afterRestart} ms, peak ${overshoot}/s, then ${again.total.toFixed(1)}/s (${again.each.join(' + ')})`,
    );
  }, 120_000);
});
