/**
 * The control plane can be down; traffic cannot (issue 14 §3). PostgreSQL stopped under real
 * processes for longer than a node takes to be lost and its instances to be given up — short
 * settings here (lost after 3 s, given up 1 s later, the outage 6 s); `npm run bench:outage` does 2
 * minutes with tend's defaults. The harness (test/env/postgres-outage.ts) says what is measured.
 */
import { describe, expect, it } from 'vitest';
import { outageTable, runPostgresOutage } from '../../env/postgres-outage.js';

describe('PostgreSQL down for longer than a node takes to be lost', () => {
  it('stops no traffic, and when it is back stops or replaces nothing', async () => {
    // 6 s: past lost (3 s) + grace (1 s) + the replica's membership (2 s), so all of them lapse.
    const s = await runPostgresOutage({ outageMs: 6_000, nodeHeartbeatMs: 1_000, lostGraceMs: 1_000, memberTtlMs: 2_000 });
    console.log(`PostgreSQL outage (short run):\n${outageTable(s)}`);

    // Through the edge that kept running: every request answered by a healthy instance.
    expect(s.edge1.length).toBeGreaterThan(10);
    expect(s.edge1.filter((a) => !s.healthy.includes(a))).toEqual([]);
    // The edge restarted during the outage served its snapshot, never the unhealthy instance.
    expect(s.edge2.fromSnapshot).toBe(1);
    expect(new Set(s.edge2.answers)).toEqual(new Set(s.healthy));
    expect(s.edge2.readsPostgresAgain).toBe(true);
    // The agents kept checking every instance, the unhealthy one too.
    for (const [id, checks] of Object.entries(s.healthChecksDuringOutage)) expect(checks, `health checks of ${id}`).toBeGreaterThanOrEqual(2);
    expect(Object.keys(s.healthChecksDuringOutage)).toContain(s.unhealthy);

    // Back: nothing stopped or replaced, the same processes, n1 and n2 never judged lost.
    expect(s.instances.after).toEqual(s.instances.before);
    expect(s.instances.before.every((i) => i.desired === 'running')).toBe(true);
    expect(s.processes.after).toEqual(s.processes.before);
    expect(Object.values(s.processes.before).every((p) => p !== undefined)).toBe(true);
    expect(s.alive.after).toEqual(s.alive.before);
    expect(s.alive.before.map((c) => c?.status)).toEqual(['True', 'True']);
    expect(s.backendsAfter).toEqual(s.healthy);
  }, 300_000);
});
