/**
 * One problem with one field, in the words the API server uses (k8s.io/apimachinery
 * `field.Error`): a field path such as `spec.volumes[0].mountPath` and a message such as
 * `Required value` or `Unsupported value: "fast": supported values: "binpack", "spread"`.
 */

/** The kinds of field error, named after apimachinery's field.ErrorType. */
export type FieldErrorType =
  | 'Required'
  | 'Invalid'
  | 'TypeInvalid'
  | 'NotSupported'
  | 'TooLong'
  | 'TooMany'
  | 'Duplicate'
  | 'Forbidden'
  | 'FieldValueUnknown';

/** One problem with one field. */
export interface FieldError {
  readonly type: FieldErrorType;
  /** Kubernetes field path: `spec.resources.memory`, `spec.env[2].name`. */
  readonly field: string;
  readonly message: string;
}

/**
 * Errors after which the API server does not evaluate CEL rules, because the object is too
 * broken to reason about (`hasBlockingErr` in apiextensions-apiserver's strategy.go).
 */
export function isBlocking(error: FieldError): boolean {
  return ['Required', 'NotSupported', 'TooLong', 'TooMany', 'TypeInvalid'].includes(error.type);
}

/** A missing field: `Required value[: detail]`. */
export function required(field: string, detail?: string): FieldError {
  return { type: 'Required', field, message: detail ? `Required value: ${detail}` : 'Required value' };
}

/** A value that breaks a rule: `Invalid value: <value>: detail`. */
export function invalid(field: string, value: unknown, detail: string): FieldError {
  return { type: 'Invalid', field, message: `Invalid value: ${showValue(value)}: ${detail}` };
}

/** A value of the wrong JSON type. */
export function typeInvalid(field: string, value: unknown, detail: string): FieldError {
  return { type: 'TypeInvalid', field, message: `Invalid value: ${showValue(value)}: ${detail}` };
}

/** A value outside an enum. */
export function notSupported(field: string, value: unknown, allowed: readonly unknown[]): FieldError {
  const supported = allowed.map((v) => JSON.stringify(v)).join(', ');
  return { type: 'NotSupported', field, message: `Unsupported value: ${showValue(value)}: supported values: ${supported}` };
}

/** A string longer than allowed. */
export function tooLong(field: string, max: number): FieldError {
  return { type: 'TooLong', field, message: `Too long: may not be more than ${max} bytes` };
}

/** A list or map with more entries than allowed. */
export function tooMany(field: string, actual: number, max: number, unit: 'items' | 'properties'): FieldError {
  return { type: 'TooMany', field, message: `Too many: ${actual}: must have at most ${max} ${unit}` };
}

/** A repeated entry of a set or map-list. */
export function duplicate(field: string, value: unknown): FieldError {
  return { type: 'Duplicate', field, message: `Duplicate value: ${showValue(value)}` };
}

/** Something that may not be done: `Forbidden: detail`. */
export function forbidden(field: string, detail: string): FieldError {
  return { type: 'Forbidden', field, message: `Forbidden: ${detail}` };
}

/** A field the schema does not know (the API server's strict field validation rejects it). */
export function unknownField(field: string): FieldError {
  return { type: 'FieldValueUnknown', field, message: 'unknown field' };
}

/** Render a value for a message: scalars as JSON, small objects and lists as compact JSON. */
export function showValue(value: unknown): string {
  const json = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
  if (json === undefined) return String(value);
  if (json.length <= 80) return json;
  return Array.isArray(value) ? '"array"' : typeof value === 'object' ? '"object"' : `${json.slice(0, 77)}..."`;
}
