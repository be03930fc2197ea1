import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileCel } from '../../../api/cel-environment.js';
import type { ValidationRule } from '../../../api/cel-rules.js';
import { KINDS } from '../../../api/kinds.js';
import { loadSchema, schemasDir, type JsonSchema } from '../../../api/load-schema.js';

/** Every (path, schema) pair below a schema, following properties, items and map values. */
function* walk(schema: JsonSchema, path: string): Generator<[string, JsonSchema]> {
  yield [path, schema];
  for (const [name, sub] of Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>)) {
    yield* walk(sub, `${path}.${name}`);
  }
  if (typeof schema.items === 'object') yield* walk(schema.items as JsonSchema, `${path}[]`);
  if (typeof schema.additionalProperties === 'object') yield* walk(schema.additionalProperties as JsonSchema, `${path}{}`);
}

describe.each(KINDS)('the $kind schema', ({ schemaFile }) => {
  const schema = loadSchema(schemaFile);
  const nodes = [...walk(schema, '')];

  it('gives every property a description written for users', () => {
    const missing = nodes
      .filter(([, s]) => s.properties)
      .flatMap(([path, s]) =>
        Object.entries(s.properties as Record<string, JsonSchema>)
          .filter(([, p]) => typeof p.description !== 'string' || p.description.trim().length < 10)
          .map(([name]) => `${path}.${name}`),
      );
    expect(missing, 'properties without a description').toEqual([]);
  });

  it('has apiVersion, kind, metadata, spec and status and nothing else at the root', () => {
    expect(Object.keys(schema.properties as object).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
    expect(schema.additionalProperties).toBe(false);
  });

  it('rejects unknown fields in every object whose fields are fixed', () => {
    const open = nodes
      .filter(([, s]) => s.type === 'object' && s.properties && s.additionalProperties !== false)
      .filter(([path]) => path !== '.metadata')
      .map(([path]) => path);
    expect(open).toEqual([]);
  });

  it('has no $ref left once loaded', () => {
    expect(JSON.stringify(schema)).not.toContain('"$ref"');
  });

  it('ends status with conditions (a map-list keyed by type) and observedGeneration', () => {
    const status = (schema.properties as Record<string, JsonSchema>).status as JsonSchema;
    const props = status.properties as Record<string, JsonSchema>;
    expect(props.conditions?.['x-kubernetes-list-type']).toBe('map');
    expect(props.conditions?.['x-kubernetes-list-map-keys']).toEqual(['type']);
    expect(props.observedGeneration?.type).toBe('integer');
  });

  it('has CEL rules that compile, each with a message', () => {
    const rules = nodes.flatMap(([, s]) => (s['x-kubernetes-validations'] ?? []) as ValidationRule[]);
    for (const rule of rules) {
      expect(() => compileCel(rule.rule), rule.rule).not.toThrow();
      if (rule.messageExpression) expect(() => compileCel(rule.messageExpression as string)).not.toThrow();
      expect(rule.message ?? rule.messageExpression, `message for ${rule.rule}`).toBeTruthy();
    }
  });

  it('bounds every string, list, map and number of spec and status (a hostile tenant writes spec)', () => {
    const body = nodes.filter(([path]) => path.startsWith('.spec') || path.startsWith('.status') || path === '.metadata.name');
    const unbounded = body
      .filter(([, s]) => {
        if (s.type === 'string' || s['x-kubernetes-int-or-string']) return s.maxLength === undefined && s.enum === undefined && s.format !== 'date-time';
        if (s.type === 'array') return s.maxItems === undefined;
        if (s.type === 'object' && typeof s.additionalProperties === 'object') return s.maxProperties === undefined;
        return false;
      })
      .map(([path]) => path);
    const numbers = body
      .filter(([path]) => path.startsWith('.spec'))
      .filter(([, s]) => (s.type === 'integer' || s.type === 'number' || s['x-kubernetes-int-or-string']) && (s.minimum === undefined || s.maximum === undefined))
      .map(([path]) => path);
    expect(unbounded, 'strings without maxLength, lists without maxItems, maps without maxProperties').toEqual([]);
    expect(numbers, 'spec numbers without minimum and maximum').toEqual([]);
  });

  it('gives every list and string a bound when a CEL rule reads it, to keep rule cost estimable', () => {
    const unbounded = nodes
      .filter(([, s]) => s['x-kubernetes-validations'])
      .filter(([, s]) => (s.type === 'array' && s.maxItems === undefined) || (s.type === 'string' && s.maxLength === undefined))
      .map(([path]) => path);
    expect(unbounded).toEqual([]);
  });
});

describe('the schemas folder', () => {
  it('holds common.schema.json and one schema per kind, nothing else', () => {
    const files = readdirSync(schemasDir()).sort();
    expect(files).toEqual(['common.schema.json', ...KINDS.map((k) => k.schemaFile)].sort());
  });

  it('describes conditions exactly like metav1.Condition', () => {
    const tenant = loadSchema('tenant.schema.json');
    const conditions = ((tenant.properties as Record<string, JsonSchema>).status?.properties as Record<string, JsonSchema>)
      .conditions as JsonSchema;
    const condition = conditions.items as JsonSchema;
    expect(condition.required).toEqual(['type', 'status', 'lastTransitionTime', 'reason', 'message']);
    const p = condition.properties as Record<string, JsonSchema>;
    expect(p.status?.enum).toEqual(['True', 'False', 'Unknown']);
    expect(p.type?.maxLength).toBe(316);
    expect(p.reason?.maxLength).toBe(1024);
    expect(p.reason?.minLength).toBe(1);
    expect(p.message?.maxLength).toBe(32768);
    expect(p.lastTransitionTime?.format).toBe('date-time');
    expect(p.observedGeneration?.minimum).toBe(0);
  });
});
