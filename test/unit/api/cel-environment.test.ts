import { describe, expect, it } from 'vitest';
import { compileCel, QUANTITY_FUNCTIONS } from '../../../api/cel-environment.js';
import { QUANTITY_EXAMPLES, QUANTITY_NON_EXAMPLES } from '../../fixtures/cel/quantity-examples.js';

const run = (expression: string, self: unknown = null, oldSelf?: unknown) => compileCel(expression)({ self, oldSelf });

describe('the CEL environment', () => {
  it('offers the Kubernetes quantity library', () => {
    expect(run("quantity('200M').compareTo(quantity('0.2G'))")).toBe(0n);
    expect(run("quantity('50M').compareTo(quantity('50Mi'))")).toBe(-1n);
    expect(run("quantity('150Mi').isGreaterThan(quantity('100Mi'))")).toBe(true);
    expect(run("quantity('50M').isLessThan(quantity('100M'))")).toBe(true);
    expect(run("sign(quantity('-1'))")).toBe(-1n);
    expect(run("quantity('50k').add(quantity('20k')) == quantity('70k')")).toBe(true);
    expect(run("quantity('50k').add(20) == quantity('50020')")).toBe(true);
    expect(run("quantity('50k').sub(20000) == quantity('30k')")).toBe(true);
    expect(run("quantity('50k').sub(quantity('20k')) == quantity('30k')")).toBe(true);
    expect(run("quantity('50k').asInteger()")).toBe(50_000n);
    expect(run("quantity('1500m').isInteger()")).toBe(false);
    expect(run("quantity('1500m').asApproximateFloat()")).toBe(1.5);
  });

  it.each(QUANTITY_EXAMPLES)('evaluates the API server example %s to true', (expression) => {
    expect(run(expression)).toBe(true);
  });

  it('has an API server example for every quantity function it offers', () => {
    const name = (signature: string) => /^(?:Quantity\.)?(\w+)\(/.exec(signature)![1]!;
    const uncovered = QUANTITY_FUNCTIONS.filter((f) => !QUANTITY_EXAMPLES.some((e) => e.includes(`${name(f)}(`)));
    expect(uncovered).toEqual([]);
  });

  it('refuses q.sign(), as the API server does (sign is a global function there)', () => {
    expect(() => run(QUANTITY_NON_EXAMPLES.memberSign)).toThrow();
  });

  it('compares quantities by amount with ==', () => {
    expect(run("quantity('1Ki') == quantity('1024')")).toBe(true);
    expect(run("quantity('1Ki') == quantity('1025')")).toBe(false);
  });

  it('tells quantities from other strings with isQuantity', () => {
    expect(run("isQuantity('1.3Gi')")).toBe(true);
    expect(run("isQuantity('200K')")).toBe(false);
    expect(run("isQuantity('Three')")).toBe(false);
  });

  it('fails to evaluate quantity() of a non-quantity, like the API server', () => {
    expect(() => run("quantity('200K')")).toThrow();
  });

  it('reads int-or-string values as quantities through string()', () => {
    expect(run('quantity(string(self)).compareTo(quantity(string(oldSelf)))', 2048n, '1Ki')).toBe(1n);
    expect(run('quantity(string(self)).compareTo(quantity(string(oldSelf)))', '1Gi', 1073741824n)).toBe(0n);
  });

  it('binds self and oldSelf and offers standard CEL macros and string functions', () => {
    expect(run('self.all(x, x.startsWith("/"))', ['/a', '/b'])).toBe(true);
    expect(run("self.matches('^[a-z]+$')", 'abc')).toBe(true);
    expect(run('has(self.a) && !has(self.b)', { a: 1n })).toBe(true);
    expect(run('self == oldSelf', { a: ['x'] }, { a: ['x'] })).toBe(true);
    expect(run('self == oldSelf', { a: ['x'] }, { a: ['y'] })).toBe(false);
  });

  it('compiles each expression once', () => {
    expect(compileCel('1 + 1')).toBe(compileCel('1 + 1'));
  });
});
