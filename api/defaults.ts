/**
 * Schema defaulting as the API server does it before validation (apiextensions-apiserver
 * `structuraldefaulting.Default` plus the pruning of nulls): a missing property, or one set to
 * null, gets a deep copy of its schema default, and defaulting then continues inside it, so
 * `rollout: {}` (itself a default) gains `maxSurge: 25%`. A null without a default is removed.
 */
import type { JsonSchema } from './load-schema.js';

/** Fill in defaults in place, recursively; returns the same value for convenience. */
export function applyDefaults<T>(value: T, schema: JsonSchema): T {
  if (Array.isArray(value)) {
    const items = schemaAt(schema, 'items');
    if (items) {
      value.forEach((item, i) => {
        if (item === null && items.default !== undefined && !items.nullable) value[i] = structuredClone(items.default);
        applyDefaults(value[i], items);
      });
    }
    return value;
  }
  if (typeof value !== 'object' || value === null) return value;

  const object = value as Record<string, unknown>;
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  for (const [name, property] of Object.entries(properties)) {
    const missing = !(name in object);
    const nonNullableNull = object[name] === null && !property.nullable;
    if (property.default !== undefined && (missing || nonNullableNull)) {
      object[name] = structuredClone(property.default);
    } else if (nonNullableNull) {
      delete object[name];
    }
  }
  const additional = schemaAt(schema, 'additionalProperties');
  for (const [name, child] of Object.entries(object)) {
    const property = properties[name] ?? additional;
    if (property) applyDefaults(child, property);
  }
  return value;
}

function schemaAt(schema: JsonSchema, keyword: 'items' | 'additionalProperties'): JsonSchema | undefined {
  const sub = schema[keyword];
  return typeof sub === 'object' && sub !== null ? (sub as JsonSchema) : undefined;
}
