import { describe, expect, it } from 'vitest';
import type { InstanceTemplate } from '../../../../api/types/instance.js';
import { planAgent, refusalOf, volumeEnv, volumeEnvName, type Assignment } from '../../../../agents/node/plan.js';
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

describe('refusalOf', () => {
  const reasonOf = (spec: Partial<InstanceTemplate> | Record<string, unknown>, extra: Partial<Assignment> = {}) => refusalOf(assignment(spec as Partial<InstanceTemplate>, extra))?.reason;

  it('lets a runnable instance through', () => {
    expect(refusalOf(assignment())).toBeUndefined();
    expect(refusalOf(assignment({ healthCheck: { path: '/healthz', periodSeconds: 1 } }))).toBeUndefined();
  });

  it('refuses an image: the process runtime runs no images', () => {
    expect(refusalOf(assignment({ command: [], image: 'ghcr.io/acme/web:1' }))).toEqual({
      reason: 'RuntimeUnavailable',
      message: 'image "ghcr.io/acme/web:1": this node runs processes only; no runtime here runs images yet (set command instead)',
    });
    // Even with args, which become the command of an image App: they are not a program to run here.
    expect(reasonOf({ command: ['serve'], image: 'web:1' })).toBe('RuntimeUnavailable');
  });

  it('refuses a command with nothing to start or an argument the OS cannot pass', () => {
    expect(reasonOf({ command: [] })).toBe('InvalidCommand');
    expect(reasonOf({ command: [''] })).toBe('InvalidCommand');
    expect(refusalOf(assignment({ command: ['node', 'a\0b'] }))).toEqual({ reason: 'InvalidCommand', message: 'command[1] contains a NUL character: the OS cannot pass it' });
    expect(reasonOf({ command: 'node server.mjs' })).toBe('InvalidCommand');
    expect(reasonOf({ command: ['node', 7] })).toBe('InvalidCommand');
    expect(reasonOf({ command: undefined })).toBe('InvalidCommand');
  });

  it('refuses limits and settings no process can have', () => {
    expect(refusalOf(assignment({}, { memory: 0 }))).toEqual({ reason: 'InvalidSpec', message: 'memory limit 0 bytes: no process fits in it (at least 1 byte)' });
    expect(reasonOf({}, { memory: Number.NaN })).toBe('InvalidSpec');
    expect(reasonOf({}, { cpu: -1 })).toBe('InvalidSpec');
    expect(reasonOf({ env: { A: 'x\0y' } })).toBe('InvalidSpec');
    expect(reasonOf({ env: { 'A=B': 'x' } })).toBe('InvalidSpec');
    expect(reasonOf({ env: ['A=x'] })).toBe('InvalidSpec');
    expect(reasonOf({ healthCheck: { path: 'healthz' } })).toBe('InvalidSpec');
    expect(reasonOf({ healthCheck: { path: '/h', periodSeconds: 0 } })).toBe('InvalidSpec');
    expect(reasonOf({ volumes: [{ volume: 'acme/x' }] })).toBe('InvalidSpec');
    expect(refusalOf({ ...assignment(), spec: null as unknown as InstanceTemplate })?.reason).toBe('InvalidSpec');
  });
});

describe('planAgent with instances it cannot run', () => {
  const good = assignment({ env: {} }, { id: 'acme.good-0' });
  const bad = assignment({ command: [''] }, { id: 'acme.bad-0' });

  it('never starts a refused instance, reports it failed with its reason, and carries on with the others', () => {
    const plan = planAgent([bad, good], []);
    expect(ensured(plan).map((s) => s.id)).toEqual(['acme.good-0']);
    expect(plan.reports).toEqual([
      { id: 'acme.bad-0', observed: { phase: 'failed', ready: false, restarts: 0, lastExit: null, failure: { reason: 'InvalidCommand', message: 'command[0] is empty: it must name a program' } } },
      { id: 'acme.good-0', observed: { phase: 'starting', ready: false, restarts: 0, lastExit: null } },
    ]);
  });

  it('reports a refusal once: the next pass finds it reported and writes nothing', () => {
    const [report] = planAgent([bad], []).reports;
    expect(planAgent([{ ...bad, reported: report!.observed }], []).reports).toEqual([]);
  });

  it('reports failed, and does not try again, an instance the runtime threw on before (the agent\'s record)', () => {
    const failure = { reason: 'InvalidSpec' as const, message: 'the runtime could not start it: id must match [a-z0-9][a-z0-9.-]*' };
    const plan = planAgent([good], [], { failures: new Map([[good.id, failure]]) });
    expect(plan.actions).toEqual([]);
    expect(plan.reports).toEqual([{ id: good.id, observed: { phase: 'failed', ready: false, restarts: 0, lastExit: null, failure } }]);
  });

  it('stops a refused instance that is running, and lets one that is desired stopped be reported stopped', () => {
    const running: InstanceStatus = { id: bad.id, phase: 'running', ready: true, restarts: 0, specHash: 'h' };
    expect(planAgent([bad], [running]).actions).toEqual([{ op: 'remove', id: bad.id, why: 'refused' }]);
    expect(planAgent([{ ...bad, desired: 'stopped' }], []).reports).toEqual([{ id: bad.id, observed: { phase: 'stopped', ready: false, restarts: 0, lastExit: null } }]);
  });

  it('turns a row that breaks planning into a failed report for that row alone', () => {
    // An env refusalOf would have let through cannot reach here; a volumes list that throws stands in for any such row.
    const hostile = assignment({}, { id: 'acme.hostile-0' });
    Object.defineProperty(hostile.spec, 'volumes', { get: () => { throw new Error('boom'); } });
    const plan = planAgent([hostile, good], []);
    expect(ensured(plan).map((s) => s.id)).toEqual(['acme.good-0']);
    expect(plan.reports[0]).toMatchObject({ id: 'acme.hostile-0', observed: { phase: 'failed', failure: { reason: 'InvalidSpec', message: 'cannot plan instance acme.hostile-0: boom' } } });
  });
});

describe('planAgent reports', () => {
  it('compares the last exit by value: the key order jsonb gives back is no change', () => {
    const exit = { code: 1, signal: null, reason: 'Error' as const, at: '2026-01-01T00:00:00.000Z' };
    // As PostgreSQL returns it: jsonb sorts keys by length, then bytewise.
    const fromJsonb = JSON.parse('{"at": "2026-01-01T00:00:00.000Z", "code": 1, "reason": "Error", "signal": null}') as typeof exit;
    const a = assignment({}, { reported: { phase: 'backoff', ready: false, restarts: 3, lastExit: fromJsonb } });
    const status: InstanceStatus = { id: a.id, phase: 'backoff', ready: false, restarts: 3, lastExit: exit, specHash: 'h' };
    expect(planAgent([a], [status]).reports).toEqual([]);
    expect(planAgent([a], [{ ...status, lastExit: { ...exit, code: 2 } }]).reports).toHaveLength(1);
  });
});

describe('planAgent pacing', () => {
  it('starts at most maxStarts new instances a pass and keeps ensuring those already started', () => {
    const many = Array.from({ length: 25 }, (_, i) => assignment({ env: {} }, { id: `acme.web-${i}` }));
    const first = planAgent(many, [], { maxStarts: 10 });
    expect(ensured(first).map((s) => s.id)).toEqual(many.slice(0, 10).map((a) => a.id));
    expect(first.deferred).toBe(15);
    // Every one is still reported (starting), started or not.
    expect(first.reports).toHaveLength(25);

    const started: InstanceStatus[] = many.slice(0, 10).map((a) => ({ id: a.id, phase: 'running', ready: true, restarts: 0, specHash: 'h' }));
    const second = planAgent(many, started, { maxStarts: 10 });
    expect(ensured(second)).toHaveLength(20); // the 10 running (idempotent) and the next 10
    expect(second.deferred).toBe(5);
    expect(planAgent(many.slice(0, 3), []).deferred).toBe(0); // default 10
  });
});
