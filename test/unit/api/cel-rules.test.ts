import { describe, expect, it } from 'vitest';
import { UnsupportedRuleError, checkRules, isTransitionRule, toCelValue } from '../../../api/cel-rules.js';
import type { JsonSchema } from '../../../api/load-schema.js';

const schema = (rules: unknown[], extra: JsonSchema = {}): JsonSchema => ({
  type: 'object',
  properties: { spec: { type: 'object', 'x-kubernetes-validations': rules, properties: { a: { type: 'integer' }, b: { type: 'string' } } } },
  ...extra,
});

describe('checkRules', () => {
  it('reports a failed rule at its location with its message', () => {
    const errors = checkRules({ spec: { a: 1 } }, schema([{ rule: 'self.a > 1', message: 'a must exceed 1' }]));
    expect(errors).toEqual([{ type: 'Invalid', field: 'spec', message: 'Invalid value: "object": a must exceed 1' }]);
  });

  it('names the field given by fieldPath and uses the error type given by reason', () => {
    const rules = [{ rule: 'has(self.b)', message: 'b is needed', fieldPath: '.b', reason: 'FieldValueRequired' }];
    expect(checkRules({ spec: { a: 1 } }, schema(rules))).toEqual([
      { type: 'Required', field: 'spec.b', message: 'Required value: b is needed' },
    ]);
    const forbidden = [{ rule: '!has(self.b)', message: 'no b', reason: 'FieldValueForbidden' }];
    expect(checkRules({ spec: { b: 'x' } }, schema(forbidden))[0]?.type).toBe('Forbidden');
  });

  it('prefers messageExpression, then message, then the rule itself', () => {
    const withExpression = [{ rule: 'self.a > 1', messageExpression: "'a is ' + string(self.a)", message: 'plain' }];
    expect(checkRules({ spec: { a: 1 } }, schema(withExpression))[0]?.message).toBe('Invalid value: "object": a is 1');
    const brokenExpression = [{ rule: 'self.a > 1', messageExpression: 'self.nope', message: 'plain' }];
    expect(checkRules({ spec: { a: 1 } }, schema(brokenExpression))[0]?.message).toBe('Invalid value: "object": plain');
    expect(checkRules({ spec: { a: 1 } }, schema([{ rule: 'self.a > 1' }]))[0]?.message).toBe(
      'Invalid value: "object": failed rule: self.a > 1',
    );
  });

  it('reports a rule that cannot be evaluated as an invalid value', () => {
    const errors = checkRules({ spec: {} }, schema([{ rule: 'self.a > 1' }]));
    expect(errors[0]?.field).toBe('spec');
    expect(errors[0]?.message).toMatch(/rule could not be evaluated/);
  });

  it('does not run rules on absent values', () => {
    expect(checkRules({}, schema([{ rule: 'false' }]))).toEqual([]);
  });

  it('runs transition rules on updates only', () => {
    const rules = [{ rule: 'self.a >= oldSelf.a', message: 'a may only grow' }];
    expect(checkRules({ spec: { a: 1 } }, schema(rules))).toEqual([]);
    expect(checkRules({ spec: { a: 1 } }, schema(rules), { spec: { a: 2 } })).toHaveLength(1);
    expect(checkRules({ spec: { a: 3 } }, schema(rules), { spec: { a: 2 } })).toEqual([]);
  });

  it('skips transition rules where the old object has no such value', () => {
    const s: JsonSchema = {
      type: 'object',
      properties: { b: { type: 'string', 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'immutable' }] } },
    };
    expect(checkRules({ b: 'x' }, s, {})).toEqual([]);
    expect(checkRules({ b: 'x' }, s, { b: 'y' })).toHaveLength(1);
  });

  it('finds old list items by key in map-lists, but not in atomic lists', () => {
    const item = {
      type: 'object',
      properties: {
        name: { type: 'string' },
        v: { type: 'integer', 'x-kubernetes-validations': [{ rule: 'self >= oldSelf', message: 'shrank' }] },
      },
    };
    const mapList: JsonSchema = {
      type: 'object',
      properties: { l: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'], items: item } },
    };
    const atomic: JsonSchema = { type: 'object', properties: { l: { type: 'array', items: item } } };
    const now = { l: [{ name: 'b', v: 1 }, { name: 'a', v: 1 }] };
    const before = { l: [{ name: 'a', v: 5 }, { name: 'b', v: 0 }] };
    expect(checkRules(now, mapList, before).map((e) => e.field)).toEqual(['l[1].v']);
    expect(checkRules(now, atomic, before)).toEqual([]);
  });

  it('names map entries with brackets, as CEL errors do', () => {
    const s: JsonSchema = {
      type: 'object',
      properties: {
        m: { type: 'object', additionalProperties: { type: 'string', 'x-kubernetes-validations': [{ rule: "self != 'bad'" }] } },
      },
    };
    expect(checkRules({ m: { zone: 'bad' } }, s).map((e) => e.field)).toEqual(['m[zone]']);
  });

  it('refuses optionalOldSelf rather than guess its meaning', () => {
    expect(() => checkRules({ spec: {} }, schema([{ rule: 'true', optionalOldSelf: true }]))).toThrow(UnsupportedRuleError);
  });
});

describe('isTransitionRule', () => {
  it('is true exactly when the rule mentions oldSelf', () => {
    expect(isTransitionRule({ rule: 'self == oldSelf' })).toBe(true);
    expect(isTransitionRule({ rule: 'self.oldSelfish == 1' })).toBe(false);
  });
});

describe('toCelValue', () => {
  it('turns integers into CEL ints and keeps only declared fields', () => {
    const s: JsonSchema = {
      type: 'object',
      properties: {
        n: { type: 'integer' },
        d: { type: 'number' },
        q: { 'x-kubernetes-int-or-string': true },
        l: { type: 'array', items: { type: 'integer' } },
      },
    };
    expect(toCelValue({ n: 1, d: 2, q: 3, l: [4], unknown: 5 }, s)).toEqual({ n: 1n, d: 2, q: 3n, l: [4n] });
    expect(toCelValue({ q: '3Gi' }, s)).toEqual({ q: '3Gi' });
  });
});
