/**
 * OpenAPI-schema validation of one object with ajv, reported as Kubernetes field errors.
 *
 * Where ajv and the API server differ, this file bends ajv toward the API server:
 * - an unknown field is reported at its own path (`spec.bogus`), as strict field validation does;
 * - the int-or-string `anyOf` is one error ("must be an integer or a string"), not three;
 * - enum, maxLength, maxItems and type errors get the API server's error types, which matter
 *   because they stop CEL rules from running (see isBlocking).
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import {
  invalid,
  notSupported,
  required,
  tooLong,
  tooMany,
  typeInvalid,
  unknownField,
  type FieldError,
} from './field-error.js';
import { childPath, pointerToPath } from './field-path.js';
import type { JsonSchema } from './load-schema.js';

// ajv-formats is CommonJS: under NodeNext its default import is typed as the module object,
// while at run time it is the plugin itself (which also carries itself as .default).
const addFormats = addFormatsPlugin.default;

/** Kubernetes vendor extensions: ajv ignores them (CEL rules run separately, see cel-rules.ts). */
const KUBERNETES_KEYWORDS = [
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
];

let ajv: Ajv2020 | undefined;
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

/** Validate value against an inlined kind schema; the errors use Kubernetes field paths. */
export function checkSchema(value: unknown, schema: JsonSchema): FieldError[] {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = instance().compile(withoutId(schema));
    compiled.set(schema, validate);
  }
  if (validate(value)) return [];
  return toFieldErrors(validate.errors ?? [], value);
}

function instance(): Ajv2020 {
  if (!ajv) {
    ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictTuples: false });
    ajv.addVocabulary(KUBERNETES_KEYWORDS);
    addFormats(ajv);
  }
  return ajv;
}

/** Compile without $id, so the same schema may be compiled again (tests load fresh copies). */
function withoutId(schema: JsonSchema): JsonSchema {
  const { $id: _id, ...rest } = schema;
  return rest;
}

function toFieldErrors(errors: readonly ErrorObject[], root: unknown): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (error.schemaPath.includes('/anyOf/')) continue; // reported once by the anyOf itself
    const converted = toFieldError(error, root);
    const key = `${converted.field}\u0000${converted.message}`;
    if (!seen.has(key)) out.push(converted);
    seen.add(key);
  }
  return out;
}

function toFieldError(error: ErrorObject, root: unknown): FieldError {
  const field = pointerToPath(error.instancePath, root);
  const params = error.params as Record<string, unknown>;
  const value = valueAt(root, error.instancePath);
  switch (error.keyword) {
    case 'required':
      return required(childPath(field, String(params.missingProperty)));
    case 'additionalProperties':
      return unknownField(childPath(field, String(params.additionalProperty)));
    case 'type':
      return typeInvalid(field, value, `must be of type ${String(params.type)}`);
    case 'anyOf':
      return typeInvalid(field, value, 'must be an integer or a string');
    case 'enum':
      return notSupported(field, value, (params.allowedValues as unknown[]) ?? []);
    case 'pattern':
      return invalid(field, value, `should match '${String(params.pattern)}'`);
    case 'maxLength':
      return tooLong(field, Number(params.limit));
    case 'maxItems':
      return tooMany(field, Array.isArray(value) ? value.length : 0, Number(params.limit), 'items');
    case 'maxProperties':
      return tooMany(field, Object.keys(value ?? {}).length, Number(params.limit), 'properties');
    case 'minimum':
      return invalid(field, value, `should be greater than or equal to ${String(params.limit)}`);
    case 'maximum':
      return invalid(field, value, `should be less than or equal to ${String(params.limit)}`);
    case 'minLength':
      return invalid(field, value, `should be at least ${String(params.limit)} chars long`);
    case 'minItems':
      return invalid(field, value, `should have at least ${String(params.limit)} items`);
    case 'format':
      return invalid(field, value, `must be of format ${String(params.format)}`);
    default:
      return invalid(field, value, error.message ?? `fails ${error.keyword}`);
  }
}

function valueAt(root: unknown, pointer: string): unknown {
  let node = root;
  for (const token of pointer.split('/').slice(1)) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[token.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}
