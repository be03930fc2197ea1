/**
 * Evaluates the `x-kubernetes-validations` rules written in the schemas, the way the API server
 * does (apiextensions-apiserver `schema/cel/validation.go`), so `tend validate` needs no
 * hand-written copy of any rule:
 *
 * - a rule runs where it is written, with `self` bound to the value there, and only when that
 *   value is present;
 * - a transition rule (one that mentions `oldSelf`) runs only on an update, and only where the
 *   old value can be found: through object properties, map entries and `x-kubernetes-list-type:
 *   map` items (matched by key), but not through sets or atomic lists;
 * - the error names the rule's location plus its `fieldPath`, has the type its `reason` asks for,
 *   and says `messageExpression`, `message` or `failed rule: <rule>`, in that order;
 * - a rule that cannot be evaluated is reported as an invalid value, like a failed rule.
 *
 * Not supported (no schema uses them): `optionalOldSelf`, and typed values for `format:
 * date-time` / `duration` strings (they are plain strings here).
 */
import { compileCel } from './cel-environment.js';
import { forbidden, invalid, required, duplicate, type FieldError } from './field-error.js';
import { appendFieldPath, childPath, indexPath, keyPath } from './field-path.js';
import type { JsonSchema } from './load-schema.js';

/** One entry of x-kubernetes-validations. */
export interface ValidationRule {
  readonly rule: string;
  readonly message?: string;
  readonly messageExpression?: string;
  readonly fieldPath?: string;
  readonly reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  readonly optionalOldSelf?: boolean;
}

/** Thrown for a rule this evaluator cannot run faithfully. */
export class UnsupportedRuleError extends Error {
  override name = 'UnsupportedRuleError';
}

/** A missing old value (a create, or no counterpart in the old object). */
const ABSENT = Symbol('absent');
type Old = unknown | typeof ABSENT;

/** Every failed rule in value; pass `old` (the stored object) for an update. */
export function checkRules(value: unknown, schema: JsonSchema, old: Old = ABSENT, path = ''): FieldError[] {
  if (value === undefined) return [];
  const errors: FieldError[] = [];
  for (const rule of (schema['x-kubernetes-validations'] ?? []) as ValidationRule[]) {
    const error = runRule(rule, value, old, schema, path);
    if (error) errors.push(error);
  }

  if (Array.isArray(value)) {
    const items = schema.items as JsonSchema | undefined;
    if (!items) return errors;
    value.forEach((item, i) => {
      errors.push(...checkRules(item, items, correlateItem(item, old, schema), indexPath(path, i)));
    });
  } else if (isObject(value)) {
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const additional = isObject(schema.additionalProperties) ? (schema.additionalProperties as JsonSchema) : undefined;
    for (const [name, child] of Object.entries(value)) {
      const oldChild = isObject(old) && name in old ? old[name] : ABSENT;
      if (properties[name]) errors.push(...checkRules(child, properties[name], oldChild, childPath(path, name)));
      else if (additional) errors.push(...checkRules(child, additional, oldChild, keyPath(path, name)));
    }
  }
  return errors;
}

/** A rule is a transition rule when it mentions oldSelf. */
export function isTransitionRule(rule: ValidationRule): boolean {
  return /\boldSelf\b/.test(rule.rule);
}

function runRule(rule: ValidationRule, value: unknown, old: Old, schema: JsonSchema, path: string): FieldError | undefined {
  if (rule.optionalOldSelf) throw new UnsupportedRuleError(`${path}: optionalOldSelf is not supported: ${rule.rule}`);
  const transition = isTransitionRule(rule);
  if (transition && old === ABSENT) return undefined;

  const variables = { self: toCelValue(value, schema), oldSelf: transition ? toCelValue(old, schema) : undefined };
  const field = rule.fieldPath ? appendFieldPath(path, rule.fieldPath) : path;
  let passed: unknown;
  try {
    passed = compileCel(rule.rule)(variables);
  } catch (err) {
    return invalid(field, summary(value), `rule could not be evaluated: ${firstLine(err)}: ${rule.rule}`);
  }
  if (passed === true) return undefined;
  const message = ruleMessage(rule, variables);
  switch (rule.reason) {
    case 'FieldValueRequired':
      return required(field, message);
    case 'FieldValueForbidden':
      return forbidden(field, message);
    case 'FieldValueDuplicate':
      return { ...duplicate(field, summary(value)), message: `Duplicate value: ${message}` };
    default:
      return invalid(field, summary(value), message);
  }
}

function ruleMessage(rule: ValidationRule, variables: { self: unknown; oldSelf: unknown }): string {
  if (rule.messageExpression) {
    try {
      const text = compileCel(rule.messageExpression)(variables);
      if (typeof text === 'string' && text.trim() !== '') return text;
    } catch {
      // the API server falls back to message, then to the rule, when messageExpression fails
    }
  }
  return rule.message ?? `failed rule: ${rule.rule}`;
}

/** The old item matching a new list item: by key for map-lists; none for sets and atomic lists. */
function correlateItem(item: unknown, old: Old, schema: JsonSchema): Old {
  if (schema['x-kubernetes-list-type'] !== 'map' || !Array.isArray(old) || !isObject(item)) return ABSENT;
  const keys = (schema['x-kubernetes-list-map-keys'] ?? []) as string[];
  const match = old.find((o) => isObject(o) && keys.every((k) => o[k] === item[k]));
  return match === undefined ? ABSENT : match;
}

/**
 * The value as CEL sees it: integers (of integer and int-or-string fields) become int (bigint),
 * other numbers double; objects keep only the fields the schema declares.
 */
export function toCelValue(value: unknown, schema: JsonSchema): unknown {
  if (typeof value === 'number') {
    const integral = schema.type === 'integer' || schema['x-kubernetes-int-or-string'] === true;
    return integral && Number.isInteger(value) ? BigInt(value) : value;
  }
  if (Array.isArray(value)) {
    const items = (schema.items ?? {}) as JsonSchema;
    return value.map((v) => toCelValue(v, items));
  }
  if (isObject(value)) {
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const additional = isObject(schema.additionalProperties) ? (schema.additionalProperties as JsonSchema) : undefined;
    const out: Record<string, unknown> = {};
    for (const [name, child] of Object.entries(value)) {
      const sub = properties[name] ?? additional;
      if (sub) out[name] = toCelValue(child, sub);
    }
    return out;
  }
  return value;
}

function summary(value: unknown): unknown {
  if (Array.isArray(value)) return 'array';
  return isObject(value) ? 'object' : value;
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
