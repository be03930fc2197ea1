import { describe, expect, it } from 'vitest';
import { planAgent, volumeEnv, volumeEnvName, type Assignment, type InstanceTemplate } from '../../../../agents/node/plan.js';
import type { InstanceSpec, InstanceStatus } from '../../../../agents/node/runtime/runtime.js';

const DIR = '/var/lib/tend/agent-n1/volumes/acme/pg-data';

function assignment(spec: Partial<InstanceTemplate> = {}, extra: Partial<Assignment> = {}): Assignment {
  return {
    id: 'acme.db-1a2b3c-0',
    memory: 256 * 2 ** 20,
    cpu: 250,
    desired: 'running',
    port: 41000,
    spec: { command: ['postgres'], env: { DATA_DIR: '/data', LOGS: '/data/logs/today', OTHER: '/database', PLAIN: 'x' }, ...spec },
    reported: null,
    ...extra,
  };
}

const withVolume = assignment({ volumes: [{ volume: 'acme/pg-data', mountPath: '/data' }] });

function ensured(plan: ReturnType<typeof planAgent>): InstanceSpec[] {
  return plan.actions.flatMap((a) => (a.op === 'ensure' ? [a.spec] : []));
}

describe('planAgent with volumes', () => {
  it('does not start an instance until each of its volumes is ready on this node', () => {
    const plan = planAgent([withVolume], []);
    expect(ensured(plan)).toEqual([]);
    expect(plan.waitingForVolumes).toEqual([{ id: withVolume.id, volumes: ['acme/pg-data'] }]);
    // It is reported as starting, like an instance waiting for its port.
    expect(plan.reports).toEqual([{ id: withVolume.id, observed: { phase: 'starting', ready: false, restarts: 0, lastExit: null } }]);

    const other = planAgent([withVolume], [], { volumes: new Map([['acme/other', '/elsewhere']]) });
    expect(ensured(other)).toEqual([]);
  });

  it('waits for every volume: one ready of two is not enough', () => {
    const two = assignment({ volumes: [{ volume: 'acme/pg-data', mountPath: '/data' }, { volume: 'acme/wal', mountPath: '/wal' }] });
    const plan = planAgent([two], [], { volumes: new Map([['acme/pg-data', DIR]]) });
    expect(ensured(plan)).toEqual([]);
    expect(plan.waitingForVolumes).toEqual([{ id: two.id, volumes: ['acme/wal'] }]);
  });

  it('starts it once its volume is ready, with the directory in TEND_VOLUME_<NAME> and in place of the mountPath', () => {
    const plan = planAgent([withVolume], [], { volumes: new Map([['acme/pg-data', DIR]]) });
    expect(plan.waitingForVolumes).toEqual([]);
    const [spec] = ensured(plan);
    expect(spec?.env).toEqual({
      DATA_DIR: DIR,
      LOGS: `${DIR}/logs/today`,
      OTHER: '/database', // a prefix of the text, not of the path: left alone
      PLAIN: 'x',
      TEND_VOLUME_PG_DATA: DIR,
    });
  });

  it('keeps an instance that already runs when its volume stops being ready (stopping it is the App controller’s call)', () => {
    const running: InstanceStatus = { id: withVolume.id, phase: 'running', ready: true, restarts: 0, specHash: 'h' };
    const plan = planAgent([withVolume], [running]);
    expect(plan.actions).toEqual([]);
  });

  it('leaves instances without volumes as they were', () => {
    const plain = assignment();
    const [spec] = ensured(planAgent([plain], []));
    expect(spec?.env).toEqual(plain.spec.env);
  });

  it('still stops an instance whose volume is not ready', () => {
    const running: InstanceStatus = { id: withVolume.id, phase: 'running', ready: true, restarts: 0, specHash: 'h' };
    const plan = planAgent([{ ...withVolume, desired: 'stopped' }], [running]);
    expect(plan.actions).toEqual([{ op: 'remove', id: withVolume.id, why: 'desired stopped' }]);
  });
});

describe('volumeEnv', () => {
  it('rewrites with the longest matching mountPath, ignores trailing slashes and a mount at /', () => {
    const env = volumeEnv(
      { A: '/data', B: '/data/logs/x', C: '/data/', D: '/', E: 'relative/data' },
      [
        { volume: 'ns/data', mountPath: '/data/' },
        { volume: 'ns/logs', mountPath: '/data/logs' },
        { volume: 'ns/root', mountPath: '/' },
      ],
      new Map([['ns/data', '/v/data'], ['ns/logs', '/v/logs'], ['ns/root', '/v/root']]),
    );
    expect(env).toEqual({
      A: '/v/data',
      B: '/v/logs/x',
      C: '/v/data/',
      D: '/',
      E: 'relative/data',
      TEND_VOLUME_DATA: '/v/data',
      TEND_VOLUME_LOGS: '/v/logs',
      TEND_VOLUME_ROOT: '/v/root',
    });
  });

  it('names the variable after the volume’s name, upper-cased, anything else as _', () => {
    expect(volumeEnvName('acme/pg-data.v2')).toBe('TEND_VOLUME_PG_DATA_V2');
    expect(volumeEnvName('cache')).toBe('TEND_VOLUME_CACHE');
  });
});
