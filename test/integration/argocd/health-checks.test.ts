/**
 * Every case of every resource_customizations/tend.dev/<Kind>/health_test.yaml, run as Argo CD
 * runs its health checks: in gopher-lua (Lua 5.1) without the string, math and os libraries
 * (test/env/health-lua.ts). The inputs are objects captured from real runs
 * (health-capture.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { healthCheckDir } from '../../../api/argocd-cm.js';
import { KINDS } from '../../../api/kinds.js';
import { REPO_ROOT } from '../../env/environment.js';
import { resolveHealthLua, runHealthScripts, type HealthResult } from '../../env/health-lua.js';

interface HealthTest {
  readonly inputPath: string;
  readonly healthStatus: { readonly status: string; readonly message?: string };
}

const cases = KINDS.flatMap(({ kind }) => {
  const dir = join(REPO_ROOT, healthCheckDir(kind));
  const { tests } = parse(readFileSync(join(dir, 'health_test.yaml'), 'utf8')) as { tests: HealthTest[] };
  const script = readFileSync(join(dir, 'health.lua'), 'utf8');
  return tests.map((t) => ({ name: `${kind}/${t.inputPath}`, script, object: parse(readFileSync(join(dir, t.inputPath), 'utf8')) as unknown, expected: t.healthStatus }));
});
let results: HealthResult[] = [];

beforeAll(async () => {
  await resolveHealthLua({ log: (line) => console.error(line) });
  results = await runHealthScripts(cases);
}, 300_000);

describe('the Argo CD health checks in gopher-lua', () => {
  it('have cases for every kind', () => {
    expect(new Set(cases.map((c) => c.name.split('/')[0]))).toEqual(new Set(KINDS.map((k) => k.kind)));
  });

  it.each(cases.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
    const { status, message } = cases[i]!.expected;
    expect(results[i]).toEqual({ status, ...(message ? { message } : {}) });
  });

  it('run without the string library, as Argo CD runs argocd-cm checks', async () => {
    const [result] = await runHealthScripts([{ script: 'return { status = string.upper("healthy") }', object: {} }]);
    expect(result).toMatchObject({ error: expect.stringMatching(/attempt to index a non-table object\(nil\) with key 'upper'/) });
  });
});
