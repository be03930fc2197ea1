import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schemasDir } from '../../../api/load-schema.js';
import { parseManifests } from '../../../api/manifests.js';
import { formatIssue, validateFiles } from '../../../api/validate.js';

const examplesDir = join(dirname(schemasDir()), 'examples');
const yamlFiles = readdirSync(examplesDir).filter((f) => /\.ya?ml$/.test(f));

describe('the examples', () => {
  it('include the tenant, node, hello and volume scenarios', () => {
    expect(yamlFiles).toEqual(expect.arrayContaining(['tenant.yaml', 'node.yaml', 'hello.yaml', 'volume.yaml']));
  });

  it.each(yamlFiles)('%s is valid', (file) => {
    const report = validateFiles([join(examplesDir, file)]);
    expect(report.issues.map(formatIssue)).toEqual([]);
    expect(report.skipped).toEqual([]);
    expect(report.checked).toBeGreaterThan(0);
  });

  it.each(yamlFiles)('%s begins with a comment saying what it shows and leaves the namespace to kubectl', (file) => {
    const text = readFileSync(join(examplesDir, file), 'utf8');
    expect(text.startsWith('# ')).toBe(true);
    expect(text).not.toMatch(/^\s+namespace:/m);
  });

  it('are valid together, applied in one go', () => {
    expect(validateFiles([examplesDir]).issues.map(formatIssue)).toEqual([]);
  });

  it('carry Argo CD sync waves: Tenant and Node first, then Volume, App, Route', () => {
    const order = ['Tenant', 'Node', 'Volume', 'App', 'Route'];
    const waves = new Map<string, Set<number>>();
    for (const file of yamlFiles) {
      for (const { object } of parseManifests(file, readFileSync(join(examplesDir, file), 'utf8')).manifests) {
        const o = object as { kind: string; metadata: { annotations?: Record<string, string> } };
        const wave = o.metadata.annotations?.['argocd.argoproj.io/sync-wave'];
        expect(wave, `${file}: ${o.kind} has no sync wave`).toMatch(/^-?\d+$/);
        waves.set(o.kind, (waves.get(o.kind) ?? new Set()).add(Number(wave)));
      }
    }
    expect([...waves.keys()].sort()).toEqual([...order].sort());
    const range = (kind: string) => [Math.min(...waves.get(kind)!), Math.max(...waves.get(kind)!)] as const;
    expect(range('Tenant')[1]).toBe(range('Node')[1]);
    for (const [before, after] of [['Node', 'Volume'], ['Tenant', 'Volume'], ['Volume', 'App'], ['App', 'Route']] as const) {
      expect(range(before)[1], `${before} before ${after}`).toBeLessThan(range(after)[0]);
    }
  });

  it('include an Argo CD Application for examples/', () => {
    const text = readFileSync(join(examplesDir, 'argocd', 'application.yaml'), 'utf8');
    const [app] = parseManifests('application.yaml', text).manifests;
    expect(app?.object).toMatchObject({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', spec: { source: { path: 'examples', directory: { recurse: false } } } });
  });
});
