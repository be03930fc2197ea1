import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue, formatSkipped, validateFiles, validateText } from '../../../api/validate.js';

const app = (spec: string, name = 'web', extra = ''): string =>
  `apiVersion: tend.dev/v1alpha1\nkind: App\nmetadata:\n  name: ${name}\n${extra}spec:\n${spec}`;
const validSpec = '  command: [node, server.mjs]\n  resources:\n    memory: 128Mi\n';

describe('validateText', () => {
  it('accepts a valid object and counts it', () => {
    const report = validateText('a.yaml', app(validSpec));
    expect(report.issues).toEqual([]);
    expect(report.checked).toBe(1);
  });

  it('reports a missing required property by the property itself', () => {
    const report = validateText('a.yaml', app('  command: [node]\n  resources: {}\n'));
    expect(report.issues.map(formatIssue)).toEqual(['a.yaml: App default/web: spec.resources.memory: Required value']);
  });

  it('reports an unknown field by the unknown field', () => {
    const report = validateText('a.yaml', app(`${validSpec}  bogus: 1\n`));
    expect(report.issues.map((i) => [i.field, i.message])).toEqual([['spec.bogus', 'unknown field']]);
  });

  it('names list items with their index', () => {
    const report = validateText('a.yaml', app(`${validSpec}  volumes:\n    - volume: d\n      mountPath: data\n`));
    expect(report.issues.map((i) => i.field)).toEqual(['spec.volumes[0].mountPath']);
  });

  it('uses the namespace given, and default otherwise', () => {
    const report = validateText('a.yaml', app('  command: [x]\n  resources: {}\n', 'web', '  namespace: shop\n'));
    expect(report.issues[0]).toMatchObject({ kind: 'App', namespace: 'shop', name: 'web' });
  });

  it('gives cluster-scoped objects no namespace', () => {
    const report = validateText('t.yaml', 'apiVersion: tend.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: demo\nspec: {}\n');
    expect(report.issues.map(formatIssue)).toEqual(['t.yaml: Tenant demo: spec.namespaces: Required value']);
  });

  it('applies defaults before CEL rules, so a rule sees defaulted fields', () => {
    const both = validateText('a.yaml', app(`${validSpec}  rollout:\n    maxSurge: 0\n`));
    expect(both.issues).toEqual([]); // maxUnavailable defaults to 25%
    const zero = validateText('a.yaml', app(`${validSpec}  rollout:\n    maxSurge: 0\n    maxUnavailable: 0\n`));
    expect(zero.issues.map((i) => i.field)).toEqual(['spec.rollout']);
  });

  it('skips CEL rules after errors that make the API server skip them', () => {
    const report = validateText('a.yaml', app('  resources: {}\n'));
    expect(report.issues.map((i) => i.field)).toEqual(['spec.resources.memory']); // not also spec.command
  });

  it('checks a repeated object as an update of the earlier one', () => {
    const volume = (size: string) =>
      `apiVersion: tend.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: data\nspec:\n  size: ${size}\n`;
    expect(validateText('v.yaml', `${volume('1Gi')}---\n${volume('2Gi')}`).issues).toEqual([]);
    expect(validateText('v.yaml', `${volume('2Gi')}---\n${volume('2048Mi')}`).issues).toEqual([]);
    const shrink = validateText('v.yaml', `${volume('2Gi')}---\n${volume('1Gi')}`);
    expect(shrink.issues.map((i) => [i.line, i.field])).toEqual([[8, 'spec.size']]);
  });

  it('does not treat objects in different namespaces as the same', () => {
    const volume = (size: string, ns: string) =>
      `apiVersion: tend.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: data\n  namespace: ${ns}\nspec:\n  size: ${size}\n`;
    expect(validateText('v.yaml', `${volume('2Gi', 'a')}---\n${volume('1Gi', 'b')}`).issues).toEqual([]);
  });

  it('ignores status, which create and update ignore too', () => {
    const report = validateText('a.yaml', `${app(validSpec)}status:\n  replicas: -5\n  bogus: true\n`);
    expect(report.issues).toEqual([]);
  });

  it('skips documents of other API groups and says so', () => {
    const report = validateText('m.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n');
    expect(report.issues).toEqual([]);
    expect(report.checked).toBe(0);
    expect(report.skipped.map(formatSkipped)).toEqual(['m.yaml:1: skipped ConfigMap x: v1 is not a tend.dev API version']);
  });

  it('rejects unknown tend.dev versions and kinds', () => {
    const version = validateText('a.yaml', app(validSpec).replace('v1alpha1', 'v1'));
    expect(version.issues.map((i) => [i.field, i.message])).toEqual([
      ['apiVersion', 'Unsupported value: "tend.dev/v1": supported values: "tend.dev/v1alpha1"'],
    ]);
    const kind = validateText('a.yaml', app(validSpec).replace('kind: App', 'kind: Gadget'));
    expect(kind.issues.map((i) => i.field)).toEqual(['kind']);
  });

  it('checks metadata.name like the API server', () => {
    const upper = validateText('a.yaml', app(validSpec, 'Web'));
    expect(upper.issues.map((i) => i.field)).toEqual(['metadata.name']);
    const missing = validateText('a.yaml', app(validSpec).replace('  name: web\n', '  labels: {}\n'));
    expect(missing.issues.map(formatIssue)).toEqual([
      'a.yaml: App default/<no name>: metadata.name: Required value: name or generateName is required',
    ]);
  });

  it('reports a YAML syntax error with its file and line', () => {
    const report = validateText('bad.yaml', `${app(validSpec)}---\nkind: [App\n`);
    expect(report.issues.map(formatIssue)).toEqual([expect.stringMatching(/^bad\.yaml:1[01]: YAML syntax error: /)]);
  });

  it('reports a document that is not an object', () => {
    const report = validateText('x.yaml', '- a\n- b\n');
    expect(report.issues.map(formatIssue)).toEqual(['x.yaml:1: not a Kubernetes object: expected a mapping with apiVersion and kind']);
  });
});

describe('validateFiles', () => {
  it('walks folders for .yaml and .yml files in name order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tend-validate-'));
    writeFileSync(join(dir, 'b.yml'), app('  command: [x]\n  resources: {}\n', 'b'));
    writeFileSync(join(dir, 'a.yaml'), app('  command: [x]\n  resources: {}\n', 'a'));
    writeFileSync(join(dir, 'notes.txt'), 'not yaml: [');
    const report = validateFiles([dir]);
    expect(report.issues.map((i) => i.name)).toEqual(['a', 'b']);
  });
});

describe('formatIssue', () => {
  it('prints file, object, field and message on one line', () => {
    const line = formatIssue({
      file: 'examples/app.yaml',
      line: 1,
      kind: 'App',
      namespace: 'default',
      name: 'web',
      field: 'spec.resources.memory',
      message: 'Required value',
    });
    expect(line).toBe('examples/app.yaml: App default/web: spec.resources.memory: Required value');
  });
});
