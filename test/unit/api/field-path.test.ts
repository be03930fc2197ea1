import { describe, expect, it } from 'vitest';
import { appendFieldPath, childPath, indexPath, keyPath, pointerToPath } from '../../../api/field-path.js';

describe('field paths', () => {
  it('are built like the API server builds them', () => {
    expect(childPath('', 'spec')).toBe('spec');
    expect(childPath('spec', 'resources')).toBe('spec.resources');
    expect(indexPath('spec.volumes', 0)).toBe('spec.volumes[0]');
    expect(keyPath('spec.labels', 'zone')).toBe('spec.labels[zone]');
  });

  it('turn JSON pointers into dotted paths with list indexes', () => {
    const root = { spec: { volumes: [{ mountPath: 'x' }], labels: { '0': 'a' } } };
    expect(pointerToPath('/spec/volumes/0/mountPath', root)).toBe('spec.volumes[0].mountPath');
    expect(pointerToPath('/spec/labels/0', root)).toBe('spec.labels.0');
    expect(pointerToPath('', root)).toBe('');
  });

  it('extend a rule location with its fieldPath', () => {
    expect(appendFieldPath('spec', '.command')).toBe('spec.command');
    expect(appendFieldPath('spec', '.a.b')).toBe('spec.a.b');
    expect(appendFieldPath('spec', ".labels['x.y']")).toBe('spec.labels[x.y]');
    expect(appendFieldPath('spec', '.volumes[2].mountPath')).toBe('spec.volumes[2].mountPath');
  });
});
