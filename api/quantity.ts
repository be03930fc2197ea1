/**
 * Kubernetes resource quantities (`512Mi`, `250m`, `1.5G`, `1e3`), parsed the way
 * apimachinery's `resource.ParseQuantity` does, so that `tend validate` compares sizes exactly
 * like the API server's CEL quantity library.
 *
 * A value is kept as an exact count of nano-units (10^-9): amounts finer than that are rounded
 * away from zero, as upstream does ("if you want some resources, you should get some").
 * Binary-suffixed amounts are capped at 2^63-1, as upstream caps them.
 *
 * Differences from upstream, on inputs no schema lets through: a lone sign (`+`, `-`) is
 * rejected here (upstream reads it as 0), and exponents beyond ±10000 are rejected here
 * (upstream accepts them).
 */

const NANOS_PER_UNIT = 1_000_000_000n;
const MAX_INT64 = (1n << 63n) - 1n;
const MAX_EXPONENT = 10_000;

const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = {
  '': 0,
  n: -9,
  u: -6,
  m: -3,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_SUFFIXES: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

const SHAPE = /^([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*(?:[+-]?[0-9]+)?)$/;

/** Thrown for a string that is not a quantity; the message says why. */
export class QuantityError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`${JSON.stringify(input)} is not a quantity: ${reason}`);
    this.name = 'QuantityError';
  }
}

/** An exact, immutable Kubernetes quantity. */
export class Quantity {
  private constructor(
    /** The amount in units of 10^-9. */
    readonly nanos: bigint,
    /** The text it was parsed from (or a canonical rendering for computed values). */
    readonly text: string,
  ) {}

  /** Parse Kubernetes quantity notation; an integer is read as a plain number. */
  static parse(input: string | number | bigint): Quantity {
    if (typeof input !== 'string') {
      if (typeof input === 'number' && !Number.isInteger(input)) {
        throw new QuantityError(String(input), 'only whole numbers may be given unquoted');
      }
      return new Quantity(BigInt(input) * NANOS_PER_UNIT, String(input));
    }
    return new Quantity(parseNanos(input), input);
  }

  /** Like parse, but undefined instead of an error. */
  static tryParse(input: string | number | bigint): Quantity | undefined {
    try {
      return Quantity.parse(input);
    } catch (err) {
      if (err instanceof QuantityError) return undefined;
      throw err;
    }
  }

  /** -1, 0 or 1 as this is less than, equal to or greater than other. */
  compareTo(other: Quantity): -1 | 0 | 1 {
    return this.nanos < other.nanos ? -1 : this.nanos > other.nanos ? 1 : 0;
  }

  /** True when this is greater than other. */
  isGreaterThan(other: Quantity): boolean {
    return this.nanos > other.nanos;
  }

  /** True when this is less than other. */
  isLessThan(other: Quantity): boolean {
    return this.nanos < other.nanos;
  }

  /** True when both denote the same amount (1Ki equals 1024). */
  equals(other: Quantity): boolean {
    return this.nanos === other.nanos;
  }

  /** -1, 0 or 1 by the sign of the amount. */
  sign(): -1 | 0 | 1 {
    return this.nanos < 0n ? -1 : this.nanos > 0n ? 1 : 0;
  }

  /** The sum of this and a quantity or a whole number. */
  add(other: Quantity | bigint): Quantity {
    return Quantity.fromNanos(this.nanos + toNanos(other));
  }

  /** The difference of this and a quantity or a whole number. */
  sub(other: Quantity | bigint): Quantity {
    return Quantity.fromNanos(this.nanos - toNanos(other));
  }

  /** True when asInteger would succeed: a whole number that fits in int64. */
  isInteger(): boolean {
    if (this.nanos % NANOS_PER_UNIT !== 0n) return false;
    const units = this.nanos / NANOS_PER_UNIT;
    return units <= MAX_INT64 && units >= -MAX_INT64 - 1n;
  }

  /** The amount as a whole number; throws when it has a fraction or overflows int64. */
  asInteger(): bigint {
    if (!this.isInteger()) throw new RangeError(`cannot convert ${this.text} to an integer without loss`);
    return this.nanos / NANOS_PER_UNIT;
  }

  /** The amount as a float, possibly rounded. */
  asApproximateFloat(): number {
    const whole = this.nanos / NANOS_PER_UNIT;
    const fraction = this.nanos % NANOS_PER_UNIT;
    return Number(whole) + Number(fraction) / 1e9;
  }

  toString(): string {
    return this.text;
  }

  private static fromNanos(nanos: bigint): Quantity {
    const whole = nanos / NANOS_PER_UNIT;
    const text = nanos % NANOS_PER_UNIT === 0n ? String(whole) : `${nanos}n`;
    return new Quantity(nanos, text);
  }
}

/** True when the string is valid Kubernetes quantity notation. */
export function isQuantity(input: string): boolean {
  return Quantity.tryParse(input) !== undefined;
}

function toNanos(value: Quantity | bigint): bigint {
  return typeof value === 'bigint' ? value * NANOS_PER_UNIT : value.nanos;
}

function parseNanos(input: string): bigint {
  const shape = SHAPE.exec(input);
  if (!shape) throw new QuantityError(input, 'expected a number with an optional suffix, such as 512Mi or 250m');
  const [, sign = '', whole = '', fraction = '', suffix = ''] = shape;
  if (whole.length === 0 && fraction.length === 0) throw new QuantityError(input, 'no digits');

  let exponent10 = -fraction.length;
  let exponent2 = 0;
  let binary = false;
  if (suffix in DECIMAL_SUFFIXES) {
    exponent10 += DECIMAL_SUFFIXES[suffix] ?? 0;
  } else if (suffix in BINARY_SUFFIXES) {
    exponent2 = BINARY_SUFFIXES[suffix] ?? 0;
    binary = true;
  } else if (/^[eE][+-]?[0-9]+$/.test(suffix)) {
    const exponent = Number(suffix.slice(1));
    if (Math.abs(exponent) > MAX_EXPONENT) throw new QuantityError(input, 'exponent out of range');
    exponent10 += exponent;
  } else {
    throw new QuantityError(input, `unknown suffix ${JSON.stringify(suffix)}`);
  }

  let magnitude = BigInt(whole + fraction || '0') << BigInt(exponent2);
  const scale = exponent10 + 9;
  if (scale >= 0) {
    magnitude *= 10n ** BigInt(scale);
  } else {
    const divisor = 10n ** BigInt(-scale);
    magnitude = (magnitude + divisor - 1n) / divisor; // round away from zero, as upstream
  }
  if (binary && magnitude > MAX_INT64 * NANOS_PER_UNIT) magnitude = MAX_INT64 * NANOS_PER_UNIT;
  return sign === '-' ? -magnitude : magnitude;
}
