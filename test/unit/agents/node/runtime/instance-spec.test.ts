import { describe, expect, it } from 'vitest';
import { InvalidInstanceSpecError, checkInstanceSpec, specHash } from '../../../../../agents/node/runtime/instance-spec.js';
import type { InstanceSpec } from '../../../../../agents/node/runtime/runtime.js';

const spec: InstanceSpec = {
  id: 'acme.web-7f3a9c-2',
  command: ['node', 'server.js'],
  env: { A: '1', B: '2' },
  port: 20_001,
  memoryBytes: 256 * 2 ** 20,
  cpuMillis: 250,
  healthCheck: { path: '/healthz', periodMs: 5_000, timeoutMs: 1_000, failureThreshold: 3 },
};

describe('specHash', () => {
  it('is the same for the same content in any key order', () => {
    const reordered: InstanceSpec = {
      healthCheck: { failureThreshold: 3, timeoutMs: 1_000, periodMs: 5_000, path: '/healthz' },
      cpuMillis: 250, memoryBytes: 256 * 2 ** 20, port: 20_001, env: { B: '2', A: '1' }, command: ['node', 'server.js'], id: 'acme.web-7f3a9c-2',
    };
    expect(specHash(reordered)).toBe(specHash(spec));
    expect(specHash({ ...spec, workingDir: undefined })).toBe(specHash(spec));
  });

  it('changes when any value changes, including one env value or the argument order', () => {
    const hashes = [
      spec,
      { ...spec, env: { A: '1', B: '3' } },
      { ...spec, command: ['server.js', 'node'] },
      { ...spec, port: 20_002 },
      { ...spec, memoryBytes: 2 ** 30 },
      { ...spec, stopGraceMs: 10_000 },
      { ...spec, healthCheck: undefined },
    ].map(specHash);
    expect(new Set(hashes).size).toBe(hashes.length);
  });
});

describe('checkInstanceSpec', () => {
  it('accepts a complete spec', () => {
    expect(() => checkInstanceSpec(spec)).not.toThrow();
  });

  it.each([
    [{ id: 'Acme/web' }, /id must match/],
    [{ id: '../etc' }, /id must match/],
    [{ command: [] }, /command must name a program/],
    [{ port: 70_000 }, /port 70000/],
    [{ memoryBytes: 0 }, /memoryBytes/],
    [{ healthCheck: { path: 'healthz', periodMs: 1, timeoutMs: 1, failureThreshold: 1 } }, /must start with \//],
    [{ healthCheck: { path: '/healthz', periodMs: 1, timeoutMs: 1, failureThreshold: 0 } }, /failureThreshold/],
  ] as const)('rejects %o', (change, message) => {
    expect(() => checkInstanceSpec({ ...spec, ...change } as InstanceSpec)).toThrow(InvalidInstanceSpecError);
    expect(() => checkInstanceSpec({ ...spec, ...change } as InstanceSpec)).toThrow(message);
  });
});
