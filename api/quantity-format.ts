import type { Quantity } from './quantity.js';

const NANOS = 1_000_000_000n;
const BINARY: readonly (readonly [string, bigint])[] = [['Ei', 1n << 60n], ['Pi', 1n << 50n], ['Ti', 1n << 40n], ['Gi', 1n << 30n], ['Mi', 1n << 20n], ['Ki', 1n << 10n]];
const DECIMAL: readonly (readonly [string, bigint])[] = [['E', 10n ** 18n], ['P', 10n ** 15n], ['T', 10n ** 12n], ['G', 10n ** 9n], ['M', 10n ** 6n], ['k', 10n ** 3n]];
const FRACTIONS: readonly (readonly [string, bigint])[] = [['m', 10n ** 6n], ['u', 10n ** 3n], ['n', 1n]];

/**
 * Renders a quantity the way people write it: memory and storage with the largest binary suffix
 * that divides it exactly (`1792Mi`), CPU with a decimal or milli suffix (`850m`, `2`).
 */
export function formatQuantity(quantity: Quantity, style: 'binary' | 'decimal'): string {
  const nanos = quantity.nanos;
  if (nanos === 0n) return '0';
  const sign = nanos < 0n ? '-' : '';
  const abs = nanos < 0n ? -nanos : nanos;
  if (abs % NANOS !== 0n) {
    const [suffix, unit] = FRACTIONS.find(([, unit]) => abs % unit === 0n)!;
    return `${sign}${abs / unit}${suffix}`;
  }
  const whole = abs / NANOS;
  const found = (style === 'binary' ? BINARY : DECIMAL).find(([, unit]) => whole % unit === 0n);
  return found ? `${sign}${whole / found[1]}${found[0]}` : `${sign}${whole}`;
}
