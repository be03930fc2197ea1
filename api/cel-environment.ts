/**
 * The CEL environment that `tend validate` evaluates `x-kubernetes-validations` rules in:
 * standard CEL (from @marcbachmann/cel-js) plus the parts of the Kubernetes CEL libraries that
 * tend's schemas may use. Only what is registered here is available; a rule that calls anything
 * else fails with an evaluation error, which the unit tests turn into a failure.
 *
 * Implemented from the Kubernetes quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go),
 * with the same call forms the API server compiles: quantity(string), isQuantity(string),
 * sign(Quantity) (a global function there, although its doc comment shows `q.sign()`, which the
 * API server refuses to compile), and on Quantity: compareTo, isGreaterThan, isLessThan, add,
 * sub, isInteger, asInteger, asApproximateFloat, plus == by value. `!=` works here
 * too, but a CRD rule using it on Quantities is refused by the API server's cost estimator. QUANTITY_FUNCTIONS
 * lists them; test/integration/api/cel-library.test.ts compiles an example of each on a real API
 * server. Standard CEL already provides what the schemas use besides: has(), size(), matches(),
 * startsWith(), lastIndexOf(), string(), in, all(), exists().
 *
 * Values: `self` and `oldSelf` are dynamically typed; integers must be bigint (see toCelValue).
 */
import { Environment } from '@marcbachmann/cel-js';
import { Quantity, isQuantity } from './quantity.js';

/** A compiled rule or message expression: call it with the variables. */
export type CelProgram = (variables: { self: unknown; oldSelf?: unknown }) => unknown;

let environment: Environment | undefined;
const programs = new Map<string, CelProgram>();

/** Compile (once, then cached) a CEL expression over `self` and `oldSelf`. Throws on syntax errors. */
export function compileCel(expression: string): CelProgram {
  let program = programs.get(expression);
  if (!program) {
    const parsed = kubernetesEnvironment().parse(expression);
    program = (variables) => parsed(variables);
    programs.set(expression, program);
  }
  return program;
}

/** The quantity library's overloads, as registered here (`Type.name(...)` is a member function). */
export const QUANTITY_FUNCTIONS = [
  'quantity(string): Quantity',
  'isQuantity(string): bool',
  'sign(Quantity): int',
  'Quantity.compareTo(Quantity): int',
  'Quantity.isGreaterThan(Quantity): bool',
  'Quantity.isLessThan(Quantity): bool',
  'Quantity.add(Quantity): Quantity',
  'Quantity.add(int): Quantity',
  'Quantity.sub(Quantity): Quantity',
  'Quantity.sub(int): Quantity',
  'Quantity.isInteger(): bool',
  'Quantity.asInteger(): int',
  'Quantity.asApproximateFloat(): double',
] as const;

type QuantityFunction = (typeof QUANTITY_FUNCTIONS)[number];

const IMPLEMENTATIONS: { readonly [F in QuantityFunction]: (...args: never[]) => unknown } = {
  'quantity(string): Quantity': (s: string) => Quantity.parse(s),
  'isQuantity(string): bool': (s: string) => isQuantity(s),
  'sign(Quantity): int': (a: Quantity) => BigInt(a.sign()),
  'Quantity.compareTo(Quantity): int': (a: Quantity, b: Quantity) => BigInt(a.compareTo(b)),
  'Quantity.isGreaterThan(Quantity): bool': (a: Quantity, b: Quantity) => a.isGreaterThan(b),
  'Quantity.isLessThan(Quantity): bool': (a: Quantity, b: Quantity) => a.isLessThan(b),
  'Quantity.add(Quantity): Quantity': (a: Quantity, b: Quantity) => a.add(b),
  'Quantity.add(int): Quantity': (a: Quantity, b: bigint) => a.add(b),
  'Quantity.sub(Quantity): Quantity': (a: Quantity, b: Quantity) => a.sub(b),
  'Quantity.sub(int): Quantity': (a: Quantity, b: bigint) => a.sub(b),
  'Quantity.isInteger(): bool': (a: Quantity) => a.isInteger(),
  'Quantity.asInteger(): int': (a: Quantity) => a.asInteger(),
  'Quantity.asApproximateFloat(): double': (a: Quantity) => a.asApproximateFloat(),
};

function kubernetesEnvironment(): Environment {
  if (environment) return environment;
  let env = new Environment({ homogeneousAggregateLiterals: false })
    .registerType('Quantity', Quantity)
    .registerVariable('self', 'dyn')
    .registerVariable('oldSelf', 'dyn');
  for (const signature of QUANTITY_FUNCTIONS) env = env.registerFunction(signature, IMPLEMENTATIONS[signature]);
  // == also gives != here; the API server compiles != on Quantities but refuses it in a CRD as
  // far over the cost budget, so schemas write !(a == b) (test/integration/api/cel-library.test.ts).
  environment = env.registerOperator('Quantity == Quantity', (a: Quantity, b: Quantity) => a.equals(b));
  return environment;
}
