/**
 * Reads the JSON Schemas under schemas/ and inlines every `$ref`, because CRD structural
 * schemas cannot contain references. Both the CRD generator and `tend validate` use the
 * inlined form, so they check the same thing.
 *
 * Inlining rules: `{"$ref": "file#/pointer", ...siblings}` becomes the referenced schema with
 * the siblings laid over it (a sibling `description` or `default` replaces the referenced one;
 * sibling `x-kubernetes-validations` are added after the referenced ones). A reference without
 * a file part points into the file it is written in. `$defs` are dropped once inlined.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A JSON Schema (or part of one) as plain JSON. */
export type JsonSchema = { [keyword: string]: unknown };

/** Thrown when a schema file cannot be read or a reference cannot be resolved. */
export class SchemaLoadError extends Error {
  override name = 'SchemaLoadError';
}

/** The schemas/ folder of this checkout (found next to api/, also when run from dist/). */
export function schemasDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth++) {
    const candidate = join(dir, 'schemas');
    if (existsSync(join(candidate, 'common.schema.json'))) return candidate;
    dir = dirname(dir);
  }
  throw new SchemaLoadError('cannot find the schemas/ folder next to api/');
}

const cache = new Map<string, JsonSchema>();

/** The schema in `file` (a name under `dir`) with every $ref inlined. */
export function loadSchema(file: string, dir: string = schemasDir()): JsonSchema {
  const path = resolve(dir, file);
  let schema = cache.get(path);
  if (!schema) {
    schema = inline(readCached(path), path, []) as JsonSchema;
    delete schema.$defs;
    cache.set(path, schema);
  }
  return structuredClone(schema);
}

function readJson(path: string): JsonSchema {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SchemaLoadError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as JsonSchema;
  } catch (err) {
    throw new SchemaLoadError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Keywords whose value is one schema, a map of schemas, or a list of schemas. */
const SUBSCHEMA = new Set(['items', 'not', 'additionalProperties']);
const SUBSCHEMA_MAP = new Set(['properties', '$defs']);
const SUBSCHEMA_LIST = new Set(['anyOf', 'allOf', 'oneOf']);

function inline(node: unknown, file: string, trail: readonly string[]): unknown {
  if (!isObject(node)) return node;
  const { $ref, ...siblings } = node;
  let base: JsonSchema = {};
  if (typeof $ref === 'string') {
    const [target, targetFile] = resolveRef($ref, file);
    const key = `${targetFile}#${$ref.split('#')[1] ?? ''}`;
    if (trail.includes(key)) throw new SchemaLoadError(`circular $ref ${$ref} in ${file}`);
    base = inline(target, targetFile, [...trail, key]) as JsonSchema;
  }
  const out: JsonSchema = { ...base };
  for (const [keyword, value] of Object.entries(siblings)) {
    if (SUBSCHEMA.has(keyword) && isObject(value)) {
      out[keyword] = inline(value, file, trail);
    } else if (SUBSCHEMA_MAP.has(keyword) && isObject(value)) {
      out[keyword] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, inline(v, file, trail)]));
    } else if (SUBSCHEMA_LIST.has(keyword) && Array.isArray(value)) {
      out[keyword] = value.map((v) => inline(v, file, trail));
    } else if (keyword === 'x-kubernetes-validations' && Array.isArray(base[keyword]) && Array.isArray(value)) {
      out[keyword] = [...(base[keyword] as unknown[]), ...value];
    } else {
      out[keyword] = value;
    }
  }
  return out;
}

function resolveRef(ref: string, file: string): [unknown, string] {
  const [filePart = '', pointer = ''] = ref.split('#');
  const targetFile = filePart ? resolve(dirname(file), filePart) : file;
  let target: unknown = readCached(targetFile);
  for (const token of pointer.split('/').filter(Boolean)) {
    const key = token.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(target) || !(key in target)) throw new SchemaLoadError(`unresolved $ref ${ref} in ${file}`);
    target = target[key];
  }
  return [target, targetFile];
}

const rawFiles = new Map<string, JsonSchema>();

function readCached(path: string): JsonSchema {
  let json = rawFiles.get(path);
  if (!json) {
    json = readJson(path);
    rawFiles.set(path, json);
  }
  return json;
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
