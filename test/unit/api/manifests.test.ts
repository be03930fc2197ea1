import { describe, expect, it } from 'vitest';
import { parseManifests } from '../../../api/manifests.js';

describe('parseManifests', () => {
  it('splits documents and records the line each starts on', () => {
    const text = '# comment\na: 1\n---\n\n# only a comment\n---\nb: 2\n';
    const { manifests, errors } = parseManifests('f.yaml', text);
    expect(errors).toEqual([]);
    expect(manifests.map((m) => [m.line, m.object])).toEqual([
      [2, { a: 1 }],
      [7, { b: 2 }],
    ]);
  });

  it('reads YAML 1.1 booleans as kubectl does', () => {
    const { manifests } = parseManifests('f.yaml', 'a: yes\nb: off\nc: "yes"\n');
    expect(manifests[0]?.object).toEqual({ a: true, b: false, c: 'yes' });
  });

  it('names the file and line of a syntax error and keeps the other documents', () => {
    const { manifests, errors } = parseManifests('f.yaml', 'a: 1\n---\nb: [1,\n---\nc: 3\n');
    expect(manifests.map((m) => m.object)).toEqual([{ a: 1 }, { c: 3 }]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ file: 'f.yaml' });
    expect(errors[0]?.line).toBeGreaterThanOrEqual(3);
    expect(errors[0]?.message).toMatch(/^YAML syntax error: /);
  });
});
