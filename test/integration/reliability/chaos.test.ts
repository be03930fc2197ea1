/**
 * The short chaos run (about a minute of faults): kill -9 of random replicas, agents and edges
 * under App churn. `npm run chaos` is the long one (bench/chaos.ts). Invariants are checked all the
 * time; afterwards everything must converge.
 */
import { describe, expect, it } from 'vitest';
import { chaosTable, runChaos } from '../../env/chaos.js';

describe('kill anything at any time', () => {
  it('loses no App, overbooks no node, places no extra instance and never lets two Apps write one volume', async () => {
    const summary = await runChaos({ faultsMs: 60_000, liveApps: 12, settleMs: 120_000, log: (line) => console.log(line) });
    console.log(`chaos (short run):\n${chaosTable(summary)}\n${JSON.stringify(summary.violations)}\n${summary.timeline.join('\n')}`);
    expect(summary.faults.replica + summary.faults.agent + summary.faults.edge).toBeGreaterThanOrEqual(5);
    expect(summary.convergenceMs.count).toBeGreaterThan(10);
    expect(summary.violations).toEqual({ overbooked: [], overPlaced: [], lost: [], sharedVolume: [] });
    expect(summary.handOvers).toBeGreaterThanOrEqual(1);
    // Availability and convergence time are figures, not assertions (no timing assertions in tests:
    // inside the suite this runs beside other test files on 2 cores). `npm run chaos` checks them
    // against the documented failover time and the 10 s convergence target, and fails when missed.
    expect(summary.edge.served).toBeGreaterThan(0);
  }, 600_000);
});
