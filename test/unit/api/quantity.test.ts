import { describe, expect, it } from 'vitest';
import { Quantity, QuantityError, isQuantity } from '../../../api/quantity.js';

const nanos = (s: string | number): bigint => Quantity.parse(s).nanos;
const G = 1_000_000_000n;

describe('Quantity.parse', () => {
  it('reads plain numbers, fractions and whole numbers given unquoted', () => {
    expect(nanos('1')).toBe(G);
    expect(nanos('0')).toBe(0n);
    expect(nanos('1.5')).toBe(1_500_000_000n);
    expect(nanos('.5')).toBe(500_000_000n);
    expect(nanos('1.')).toBe(G);
    expect(nanos('+2')).toBe(2n * G);
    expect(nanos(3)).toBe(3n * G);
    expect(nanos(0)).toBe(0n);
  });

  it('reads decimal suffixes from nano to exa', () => {
    expect(nanos('7n')).toBe(7n);
    expect(nanos('250u')).toBe(250_000n);
    expect(nanos('250m')).toBe(250_000_000n);
    expect(nanos('1k')).toBe(1000n * G);
    expect(nanos('1M')).toBe(10n ** 6n * G);
    expect(nanos('1G')).toBe(10n ** 9n * G);
    expect(nanos('1T')).toBe(10n ** 12n * G);
    expect(nanos('1P')).toBe(10n ** 15n * G);
    expect(nanos('1E')).toBe(10n ** 18n * G);
  });

  it('reads binary suffixes from Ki to Ei', () => {
    expect(nanos('1Ki')).toBe(1024n * G);
    expect(nanos('512Mi')).toBe(512n * 2n ** 20n * G);
    expect(nanos('1.5Gi')).toBe(3n * 2n ** 29n * G);
    expect(nanos('2Ti')).toBe(2n * 2n ** 40n * G);
    expect(nanos('1Pi')).toBe(2n ** 50n * G);
    expect(nanos('1Ei')).toBe(2n ** 60n * G);
  });

  it('reads decimal exponents in either case and with a sign', () => {
    expect(nanos('1e3')).toBe(1000n * G);
    expect(nanos('1E3')).toBe(1000n * G);
    expect(nanos('1e+3')).toBe(1000n * G);
    expect(nanos('5e-3')).toBe(5_000_000n);
  });

  it('reads negative amounts, which only the schemas forbid', () => {
    expect(nanos('-1Gi')).toBe(-(2n ** 30n) * G);
    expect(Quantity.parse('-250m').sign()).toBe(-1);
  });

  it('rounds amounts finer than a nano away from zero, as the API server does', () => {
    expect(nanos('0.0000000001')).toBe(1n);
    expect(nanos('1.0000000001')).toBe(G + 1n);
    expect(nanos('-0.0000000001')).toBe(-1n);
  });

  it('caps binary amounts at 2^63-1 like upstream', () => {
    expect(nanos('100000Ei')).toBe(((1n << 63n) - 1n) * G);
  });

  it.each(['', 'Mi', '.', '+', '1GB', '512MB', '1K', '1mi', '10 Gi', 'Gi10', '1e', '1e3Ki', '1.5.5', 'one', '1e99999', '0x10'])(
    'rejects %j',
    (input) => {
      expect(() => Quantity.parse(input)).toThrow(QuantityError);
      expect(isQuantity(input)).toBe(false);
      expect(Quantity.tryParse(input)).toBeUndefined();
    },
  );

  it('rejects fractional numbers given unquoted', () => {
    expect(() => Quantity.parse(0.5)).toThrow(/whole numbers/);
  });

  it('keeps the text it was parsed from', () => {
    expect(String(Quantity.parse('512Mi'))).toBe('512Mi');
  });
});

describe('Quantity comparisons and arithmetic', () => {
  const q = (s: string) => Quantity.parse(s);

  it('compares by amount, across units', () => {
    expect(q('1Ki').compareTo(q('1024'))).toBe(0);
    expect(q('1Ki').equals(q('1024'))).toBe(true);
    expect(q('200M').compareTo(q('0.2G'))).toBe(0);
    expect(q('50M').compareTo(q('50Mi'))).toBe(-1);
    expect(q('50Mi').compareTo(q('50M'))).toBe(1);
    expect(q('900Mi').isLessThan(q('1G'))).toBe(true);
    expect(q('1Gi').isGreaterThan(q('1G'))).toBe(true);
    expect(q('1G').isGreaterThan(q('1G'))).toBe(false);
    expect(q('500m').compareTo(q('0.5'))).toBe(0);
  });

  it('adds and subtracts quantities and whole numbers', () => {
    expect(q('50k').add(q('20k')).equals(q('70k'))).toBe(true);
    expect(q('50k').add(20n).equals(q('50020'))).toBe(true);
    expect(q('50k').sub(20_000n).equals(q('30k'))).toBe(true);
    expect(q('1').sub(q('1500m')).sign()).toBe(-1);
  });

  it('converts to integers only without loss', () => {
    expect(q('50k').asInteger()).toBe(50_000n);
    expect(q('50k').isInteger()).toBe(true);
    expect(q('1500m').isInteger()).toBe(false);
    expect(() => q('1500m').asInteger()).toThrow(RangeError);
    expect(q('9999999999999999999999999999999999999G').isInteger()).toBe(false);
    expect(q('1500m').asApproximateFloat()).toBe(1.5);
  });
});
