import { UsageError } from './usage-error.js';

/** Reads a whole-number flag of `verb`; a bad value is a usage error naming the flag. */
export function wholeNumber(verb: string, flag: string, text: string, min?: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < (min ?? 0)) {
    throw new UsageError(`${verb}: --${flag} must be a whole number${min === undefined ? '' : ` ≥ ${min}`}, got "${text}"`);
  }
  return value;
}
