/**
 * The `kubectl get` columns of tend's kinds, and the part of Kubernetes JSONPath they are written in.
 *
 * The columns come from the kind registry (api/kinds.ts), the structure the CRDs under crds/ are
 * generated from, so `tend get` and `kubectl get` print the same columns without parsing YAML.
 *
 * JSONPath follows client-go's `util/jsonpath` as the API server runs it for printer columns
 * (apiextensions-apiserver `tableconvertor.go`: the path wrapped in `{…}`, `AllowMissingKeys(true)`),
 * but only the subset tend's columns use: `.field`, `[N]`, `[*]` and `[?(@.field=="value")]`.
 * Anything else is rejected when the path is compiled, so a new column written in syntax this file
 * does not know fails a unit test instead of printing blanks. Evaluation mirrors client-go:
 * - a missing field yields no result (not an error);
 * - a field of an array or a scalar yields nothing; a field whose value is null yields null;
 * - an index past the end, a filter or index on a non-array, or a filter whose left side is not
 *   exactly one value of the literal's type is an error, and an error empties the whole result
 *   (the API server then prints an empty cell).
 */
import { KINDS, type PrinterColumn } from '../../api/kinds.js';

export type { PrinterColumn };

/** The printer columns of one of tend's kinds (Tenant, App, Route, Volume, Node), `-o wide` ones included. */
export function printerColumns(kind: string): readonly PrinterColumn[] {
  const info = KINDS.find((k) => k.kind === kind);
  if (!info) throw new Error(`unknown kind ${kind}`); // a programming error: the verb resolves kinds first
  return info.printerColumns;
}

/** Thrown for a JSONPath that is malformed or uses syntax outside the supported subset. */
export class JsonPathError extends Error {
  override name = 'JsonPathError';
}

/** One step of a compiled path. */
export type JsonPathStep =
  | { readonly op: 'field'; readonly name: string }
  | { readonly op: 'index'; readonly index: number }
  | { readonly op: 'all' }
  | { readonly op: 'filter'; readonly left: readonly string[]; readonly equals: string | number | boolean };

/** Compiles a printer-column JSONPath such as `.status.conditions[?(@.type=="Ready")].status`; throws JsonPathError. */
export function compileJsonPath(path: string): readonly JsonPathStep[] {
  const steps: JsonPathStep[] = [];
  let at = 0;
  const fail = (why: string): never => {
    throw new JsonPathError(`${path}: ${why} at offset ${at}`);
  };
  if (!path.startsWith('.')) fail('a column path starts with "."');
  while (at < path.length) {
    if (path[at] === '.') {
      at += 1;
      const name = FIELD.exec(path.slice(at))?.[0] ?? fail('expected a field name');
      steps.push({ op: 'field', name });
      at += name.length;
    } else if (path[at] === '[') {
      const close = path.indexOf(']', at);
      const inside = close < 0 ? fail('missing "]"') : path.slice(at + 1, close);
      steps.push(bracket(inside, fail));
      at = close + 1;
    } else {
      fail(`unexpected ${JSON.stringify(path[at])}`);
    }
  }
  return steps;
}

const FIELD = /^[A-Za-z0-9_\-/]+/;
const INDEX = /^\d+$/;
/** `?(@.a.b=="x")`, `?(@.a=='x')`, `?(@.a==3)`, `?(@.a==true)`. */
const FILTER = /^\?\(@((?:\.[A-Za-z0-9_\-/]+)+)\s*==\s*("[^"]*"|'[^']*'|-?\d+(?:\.\d+)?|true|false)\)$/;

function bracket(inside: string, fail: (why: string) => never): JsonPathStep {
  if (inside === '*') return { op: 'all' };
  if (INDEX.test(inside)) return { op: 'index', index: Number(inside) };
  const filter = FILTER.exec(inside);
  if (!filter) return fail(`unsupported "[${inside}]" (supported: [N], [*], [?(@.field=="value")])`);
  const [, left = '', literal = ''] = filter;
  const equals =
    literal.startsWith('"') || literal.startsWith("'")
      ? literal.slice(1, -1)
      : literal === 'true' || literal === 'false'
        ? literal === 'true'
        : Number(literal);
  return { op: 'filter', left: left.slice(1).split('.'), equals };
}

/** Every value `path` selects in `obj`, in order; [] when nothing matches or client-go would fail. */
export function evaluateJsonPath(obj: unknown, path: string | readonly JsonPathStep[]): unknown[] {
  const steps = typeof path === 'string' ? compileJsonPath(path) : path;
  let current: unknown[] = [obj];
  for (const step of steps) {
    const next = apply(step, current);
    if (next === FAILED) return [];
    current = next;
  }
  return current;
}

const FAILED = Symbol('failed');

function apply(step: JsonPathStep, input: readonly unknown[]): unknown[] | typeof FAILED {
  const out: unknown[] = [];
  for (const value of input) {
    switch (step.op) {
      case 'field':
        if (isObject(value) && Object.hasOwn(value, step.name)) out.push(value[step.name]);
        break;
      case 'all':
        if (Array.isArray(value)) out.push(...value);
        else if (isObject(value)) out.push(...Object.values(value));
        break;
      case 'index':
        if (value === null || value === undefined) break;
        if (!Array.isArray(value) || step.index >= value.length) return FAILED;
        out.push(value[step.index]);
        break;
      case 'filter': {
        if (!Array.isArray(value)) return FAILED;
        for (const item of value) {
          const left = evaluateJsonPath(item, step.left.map((name) => ({ op: 'field', name }) as const));
          // client-go: "can only compare one element at a time", and no comparing across types.
          if (left.length !== 1 || typeof left[0] !== typeof step.equals) return FAILED;
          if (left[0] === step.equals) out.push(item);
        }
        break;
      }
    }
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
