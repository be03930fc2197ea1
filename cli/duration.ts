/** Durations on the command line, as kubectl takes them: `500ms`, `90s`, `5m`, `1h`. */
import { UsageError } from './usage-error.js';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Milliseconds of `text`; a UsageError naming the verb and flag otherwise. */
export function parseDuration(verb: string, flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new UsageError(`${verb}: --${flag} must be a duration like 90s or 5m, got "${text}"`);
  return Math.round(Number(match[1]) * UNIT_MS[match[2]!]!);
}
