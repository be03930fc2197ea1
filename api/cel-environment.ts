/**
 * The CEL environment that `tend validate` evaluates `x-kubernetes-validations` rules in:
 * standard CEL (from @marcbachmann/cel-js) plus the parts of the Kubernetes CEL libraries that
 * tend's schemas may use. Only what is registered here is available; a rule that calls anything
 * else fails with an evaluation error, which the unit tests turn into a failure.
 *
 * Implemented from the Kubernetes quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go):
 * quantity(string), isQuantity(string), and on Quantity: compareTo, isGreaterThan, isLessThan,
 * sign, add, sub, isInteger, asInteger, asApproximateFloat, plus == and != by value.
 * Standard CEL already provides what the schemas use besides: has(), size(), matches(),
 * startsWith(), string(), in, all(), exists().
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

function kubernetesEnvironment(): Environment {
  if (environment) return environment;
  environment = new Environment({ homogeneousAggregateLiterals: false })
    .registerType('Quantity', Quantity)
    .registerVariable('self', 'dyn')
    .registerVariable('oldSelf', 'dyn')
    .registerFunction('quantity(string): Quantity', (s: string) => Quantity.parse(s))
    .registerFunction('isQuantity(string): bool', (s: string) => isQuantity(s))
    .registerFunction('Quantity.compareTo(Quantity): int', (a: Quantity, b: Quantity) => BigInt(a.compareTo(b)))
    .registerFunction('Quantity.isGreaterThan(Quantity): bool', (a: Quantity, b: Quantity) => a.isGreaterThan(b))
    .registerFunction('Quantity.isLessThan(Quantity): bool', (a: Quantity, b: Quantity) => a.isLessThan(b))
    .registerFunction('Quantity.sign(): int', (a: Quantity) => BigInt(a.sign()))
    .registerFunction('Quantity.add(Quantity): Quantity', (a: Quantity, b: Quantity) => a.add(b))
    .registerFunction('Quantity.add(int): Quantity', (a: Quantity, b: bigint) => a.add(b))
    .registerFunction('Quantity.sub(Quantity): Quantity', (a: Quantity, b: Quantity) => a.sub(b))
    .registerFunction('Quantity.sub(int): Quantity', (a: Quantity, b: bigint) => a.sub(b))
    .registerFunction('Quantity.isInteger(): bool', (a: Quantity) => a.isInteger())
    .registerFunction('Quantity.asInteger(): int', (a: Quantity) => a.asInteger())
    .registerFunction('Quantity.asApproximateFloat(): double', (a: Quantity) => a.asApproximateFloat())
    .registerOperator('Quantity == Quantity', (a: Quantity, b: Quantity) => a.equals(b)); // != follows from ==
  return environment;
}
