/**
 * Quantities as the controllers compute with them: whole bytes and millicores, and back to the
 * binary form status shows (`512Mi`). One place, so every kind rounds the same way.
 */
import { Quantity } from './quantity.js';
import { formatQuantity } from './quantity-format.js';

/** Whole bytes of a quantity (`64Mi` → 67108864); undefined stays undefined. */
export function bytes(value: string | number): number;
export function bytes(value: string | number | undefined): number | undefined;
export function bytes(value: string | number | undefined): number | undefined {
  return value === undefined ? undefined : Number(Quantity.parse(value).nanos / 1_000_000_000n);
}

/** Whole millicores of a CPU quantity (`0.5` → 500); undefined stays undefined. */
export function millicores(value: string | number): number;
export function millicores(value: string | number | undefined): number | undefined;
export function millicores(value: string | number | undefined): number | undefined {
  return value === undefined ? undefined : Number(Quantity.parse(value).nanos / 1_000_000n);
}

/** A byte count in binary notation, as status shows it (`1536Mi`). */
export function binaryQuantity(n: number): string {
  return formatQuantity(Quantity.parse(n), 'binary');
}
