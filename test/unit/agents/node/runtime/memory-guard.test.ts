import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../../../framework/testing/fake-clock.js';
import { createMemoryGuard, formatBytes } from '../../../../../agents/node/runtime/memory-guard.js';

const base = { clock: new FakeClock(), pollIntervalMs: 250, logger: pino({ level: 'silent' }) };

describe('createMemoryGuard', () => {
  it('polls RSS when asked to', () => {
    expect(createMemoryGuard({ ...base, mode: 'rss-polling' }).guard.mechanism).toBe('rss-polling');
  });

  it('falls back to RSS polling with the reason when cgroups cannot limit memory', () => {
    const parent = mkdtempSync(join(tmpdir(), 'tend-cgroup2-'));
    writeFileSync(join(parent, 'cgroup.controllers'), 'cpu\n');
    writeFileSync(join(parent, 'cgroup.subtree_control'), '');

    const { guard, reason } = createMemoryGuard({ ...base, mode: 'auto', cgroupParent: parent });

    expect(guard.mechanism).toBe('rss-polling');
    expect(reason).toMatch(/memory controller is not available/);
  });

  it('refuses to start when cgroups are required but cannot limit memory', () => {
    const parent = mkdtempSync(join(tmpdir(), 'tend-cgroup2-'));
    expect(() => createMemoryGuard({ ...base, mode: 'cgroup', cgroupParent: parent })).toThrow(/'cgroup' is not possible here/);
  });
});

describe('formatBytes', () => {
  it('writes sizes the way limits are written in specs', () => {
    expect([formatBytes(256 * 2 ** 20), formatBytes(2 ** 30), formatBytes(1.5 * 2 ** 20), formatBytes(314_572_800 + 123_456)]).toEqual(['256Mi', '1Gi', '1.5Mi', '300.1Mi']);
  });
});
