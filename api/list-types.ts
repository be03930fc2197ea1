/**
 * The uniqueness that `x-kubernetes-list-type` promises, checked like the API server's
 * `structurallisttype.ValidateListSetsAndMaps`: a `set` holds no value twice, a `map` no two
 * items with the same key fields. The error names the later duplicate: `spec.env[3]`.
 */
import { duplicate, type FieldError } from './field-error.js';
import { childPath, indexPath } from './field-path.js';
import type { JsonSchema } from './load-schema.js';

/** Duplicate entries in set- and map-typed lists anywhere in value. */
export function checkListTypes(value: unknown, schema: JsonSchema, path = ''): FieldError[] {
  const errors: FieldError[] = [];
  if (Array.isArray(value)) {
    const listType = schema['x-kubernetes-list-type'];
    if (listType === 'set' || listType === 'map') {
      const keys = (schema['x-kubernetes-list-map-keys'] ?? []) as string[];
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const identity = listType === 'set' ? item : pick(item, keys);
        const id = JSON.stringify(identity);
        if (seen.has(id)) errors.push(duplicate(indexPath(path, i), identity));
        seen.add(id);
      });
    }
    const items = schema.items as JsonSchema | undefined;
    if (items) value.forEach((item, i) => errors.push(...checkListTypes(item, items, indexPath(path, i))));
  } else if (typeof value === 'object' && value !== null) {
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const additional = schema.additionalProperties;
    for (const [name, child] of Object.entries(value)) {
      const sub = properties[name] ?? (typeof additional === 'object' ? (additional as JsonSchema) : undefined);
      if (sub) errors.push(...checkListTypes(child, sub, childPath(path, name)));
    }
  }
  return errors;
}

function pick(item: unknown, keys: readonly string[]): Record<string, unknown> {
  const source = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
  return Object.fromEntries(keys.map((k) => [k, source[k]]));
}
