import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ARGOCD_CM_PATCH, healthCheckDir, renderArgocdCmPatch } from '../../../api/argocd-cm.js';
import { KINDS } from '../../../api/kinds.js';
import { schemasDir } from '../../../api/load-schema.js';

const root = dirname(schemasDir());

describe('the argocd-cm patch', () => {
  it('is current with resource_customizations/ (else run npm run argocd-cm)', () => {
    const onDisk = readFileSync(join(root, ARGOCD_CM_PATCH), 'utf8');
    expect(onDisk === renderArgocdCmPatch(), `${ARGOCD_CM_PATCH} is stale: run npm run argocd-cm`).toBe(true);
  });

  it('carries each kind\'s health.lua, byte for byte, under Argo CD\'s key for it', () => {
    const [doc] = parseAllDocuments(readFileSync(join(root, ARGOCD_CM_PATCH), 'utf8'));
    const patch = doc!.toJS() as { kind: string; metadata: { name: string; namespace: string }; data: Record<string, string> };
    expect(patch).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'argocd-cm', namespace: 'argocd' } });
    expect(Object.keys(patch.data).sort()).toEqual(KINDS.map((k) => `resource.customizations.health.tend.dev_${k.kind}`).sort());
    for (const { kind } of KINDS) {
      expect(patch.data[`resource.customizations.health.tend.dev_${kind}`]).toBe(readFileSync(join(root, healthCheckDir(kind), 'health.lua'), 'utf8'));
    }
  });
});

describe('the health checks', () => {
  it.each(KINDS.map((k) => k.kind))('%s uses none of the string, math, os or io libraries (Argo CD does not open them for argocd-cm checks)', (kind) => {
    const code = readFileSync(join(root, healthCheckDir(kind), 'health.lua'), 'utf8').replace(/--.*$/gm, '');
    expect(code).not.toMatch(/\b(string|math|os|io|require|load|loadstring|dofile)\b\s*[.(:]/);
    expect(code).not.toMatch(/:\s*\w+\s*\(/); // s:upper() is the string library too
  });

  it.each(KINDS.map((k) => k.kind))('%s has a health_test.yaml whose inputs exist', (kind) => {
    const dir = join(root, healthCheckDir(kind));
    const tests = parse(readFileSync(join(dir, 'health_test.yaml'), 'utf8')) as { tests: { inputPath: string; healthStatus: { status: string } }[] };
    expect(tests.tests.length).toBeGreaterThan(0);
    for (const t of tests.tests) expect(() => readFileSync(join(dir, t.inputPath))).not.toThrow();
  });
});
