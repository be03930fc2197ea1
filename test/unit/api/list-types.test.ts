import { describe, expect, it } from 'vitest';
import { checkListTypes } from '../../../api/list-types.js';
import { loadSchema } from '../../../api/load-schema.js';

describe('checkListTypes', () => {
  it('names the second copy of a value in a set', () => {
    const tenant = loadSchema('tenant.schema.json');
    const errors = checkListTypes({ spec: { namespaces: ['a', 'b', 'a'] } }, tenant);
    expect(errors).toEqual([{ type: 'Duplicate', field: 'spec.namespaces[2]', message: 'Duplicate value: "a"' }]);
  });

  it('names the second item with the same key in a map-list', () => {
    const app = loadSchema('app.schema.json');
    const errors = checkListTypes({ spec: { env: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] } }, app);
    expect(errors.map((e) => e.field)).toEqual(['spec.env[1]']);
  });

  it('accepts atomic lists with repeated values', () => {
    const app = loadSchema('app.schema.json');
    expect(checkListTypes({ spec: { args: ['-v', '-v'] } }, app)).toEqual([]);
  });
});
