import { describe, expect, it } from 'vitest';
import { deepEqual, mergePatchOf } from '../../../../framework/status/merge-patch.js';

describe('mergePatchOf', () => {
  it('is undefined when nothing differs, whatever the key order', () => {
    expect(mergePatchOf({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toBeUndefined();
  });

  it('carries only the changed keys, nested', () => {
    expect(mergePatchOf({ a: 1, b: { c: 1, d: 2 } }, { a: 1, b: { c: 1, d: 3 } })).toEqual({ b: { d: 3 } });
  });

  it('nulls removed keys so the server deletes them', () => {
    expect(mergePatchOf({ a: 1, gone: { x: 1 } }, { a: 1 })).toEqual({ gone: null });
  });

  it('replaces a changed array whole', () => {
    const from = { conditions: [{ type: 'Ready', status: 'False' }, { type: 'Synced', status: 'True' }] };
    const to = { conditions: [{ type: 'Ready', status: 'True' }, { type: 'Synced', status: 'True' }] };
    expect(mergePatchOf(from, to)).toEqual(to);
  });

  it('treats undefined like an absent key', () => {
    expect(mergePatchOf({ a: 1 }, { a: 1, b: undefined })).toBeUndefined();
    expect(deepEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
  });
});
