/**
 * A hostile tenant against real servers (test/env/hostile-platform.ts): while it applies the worst
 * Apps the schema admits — the largest replicas, the smallest memory and CPU, the longest names,
 * two hundred of them — another tenant's new App still goes Ready, the replica's /readyz and App
 * listing keep answering, its RSS stays bounded and the hostile tenant gets no more instances than
 * its quota. Deadlines are generous: this proves nothing stalls, `npm run bench:hostile` measures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCondition } from '../../../framework/conditions/index.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { DEFAULT_CLUSTER_CONFIG } from '../../../reconcilers/node.js';
import { eventually } from '../../env/eventually.js';
import {
  HOSTILE_NAMESPACE,
  Sampler,
  applyHostileApps,
  goodAppToReady,
  hostileUsage,
  listProbe,
  readyzProbe,
  replicaRssMb,
  sample,
  scrape,
  startHostilePlatform,
  type HostilePlatform,
} from '../../env/hostile-platform.js';

const HOSTILE_APPS = 200;
// Below the App schema's replicas maximum (1000), so the first hostile App alone is over it.
const QUOTA = 500;
let platform: HostilePlatform;

beforeAll(async () => {
  platform = await startHostilePlatform({ hostileInstanceQuota: QUOTA });
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

describe('a hostile tenant', () => {
  it("serves prom-client's default metrics, nodejs_eventloop_lag_seconds among them, on the replica's /metrics", async () => {
    const text = await scrape(platform);
    expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
  });

  it("cannot stall the control plane: another tenant's App goes Ready, /readyz and listing answer, usage stays within its quota", async () => {
    const readyz = new Sampler(readyzProbe(platform), { gapMs: 100, timeoutMs: 5_000 });
    const list = new Sampler(listProbe(platform), { gapMs: 250, timeoutMs: 15_000 });
    await applyHostileApps(platform, HOSTILE_APPS);
    // The worst the schema admits: replicas at its maximum, memory at its minimum, names at their longest.
    expect(platform.worst).toEqual({ replicas: 1000, memory: '1Mi', nameLength: 63 });

    // The hostile Apps are placed and re-reconciled (never ready) meanwhile.
    const readyMs = await goodAppToReady(platform, 'web', 60_000);
    expect(readyMs).toBeLessThan(60_000);

    // The first hostile App took the whole instance quota, a batch per pass; none went past it.
    const usage = await eventually(async () => {
      const u = await hostileUsage(platform);
      return u.placed === QUOTA && u.status === QUOTA ? u : undefined;
    }, { what: `hostile tenant at its quota of ${QUOTA} instances`, timeoutMs: 90_000 });
    expect(usage).toMatchObject({ placed: QUOTA, status: QUOTA });
    // The cluster bounds it too: no node holds more than maxInstancesPerNode, whatever the sizes.
    expect(usage.mostOnANode).toBeLessThanOrEqual(DEFAULT_CLUSTER_CONFIG.maxInstancesPerNode);
    const first = (await platform.clients.app.list()).items.find((a) => a.metadata.namespace === HOSTILE_NAMESPACE && a.metadata.name.startsWith('h0000-'))!;
    const scheduled = await eventually(async () => {
      const c = findCondition((await platform.clients.app.get(`${HOSTILE_NAMESPACE}/${first.metadata.name}` as Key))?.status?.conditions, 'Scheduled');
      return c?.reason === 'QuotaExceeded' ? c : undefined;
    }, { what: 'the first hostile App Scheduled=False QuotaExceeded' });
    expect(scheduled.message).toContain('spec.quota.instances');

    await Promise.all([readyz.stop(), list.stop()]);
    expect(readyz.failures).toEqual([]);
    expect(list.failures).toEqual([]);
    expect(readyz.durations.length).toBeGreaterThan(10);
    expect(replicaRssMb(platform)).toBeLessThan(1_024);
  }, 240_000);
});
