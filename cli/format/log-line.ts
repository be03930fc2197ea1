/**
 * `tend logs` output: the pino JSON lines of tend's processes, filtered and shown one readable line each.
 *
 *   12:03:04.123 INFO  app default/hello gen 3  reconciled  replica=tend-0 reconcileId=1f6c2a9e requeueAfterMs=2000
 *   12:03:05.871 ERROR app default/web gen 7  reconcile failed; retrying with backoff  failures=3 err="node n1 is full"
 *
 * Time is UTC with milliseconds; then the level, the controller, the key and the generation (the
 * bindings framework/runtime/controller.ts gives every reconcile's logger), two spaces, the
 * message, two spaces, and every other field as `key=value` in the order of the line, except
 * `err`, which goes last because it is the longest and the one read first. A string value is
 * quoted (JSON-style escapes) when it is empty or holds a space, `"`, `=`, `\` or a control
 * character; a reconcileId is cut to its first 8 characters; an error object shows its message.
 * Control characters never reach the terminal unescaped, whatever a log line holds.
 */

/** pino's level numbers by name. */
export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** A level name such as `warn`. */
export type LevelName = keyof typeof LEVELS;

/** One parsed pino line. */
export interface LogEntry {
  readonly level: number;
  /** Milliseconds since the epoch: pino writes a number by default, an ISO string with `isoTime` (tend's logger). */
  readonly time: number | undefined;
  readonly msg: string;
  readonly controller: string | undefined;
  /** The queue key: `namespace/name`, or `name` for cluster-scoped kinds. */
  readonly key: string | undefined;
  readonly generation: number | undefined;
  /** Every other field, in the order of the line (replica, reconcileId, err, …). */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Which lines `tend logs` shows; every given criterion must hold. */
export interface LogFilter {
  /** A kind such as `App`: lines of its controller (`app`), compared case-insensitively. */
  readonly kind?: string;
  /** An object name, matched against the name part of the key; with a `/`, against the whole key. */
  readonly name?: string;
  /** A controller name, exactly. */
  readonly controller?: string;
  /** The lowest level shown, e.g. `LEVELS.warn`. */
  readonly minLevel?: number;
}

/** The pino level number for a name such as `warn` (any case), or undefined. */
export function levelValue(name: string): number | undefined {
  const key = name.toLowerCase();
  return Object.hasOwn(LEVELS, key) ? LEVELS[key as LevelName] : undefined;
}

/** The entry of one pino JSON line, or undefined for a line that is not one (not JSON, not an object, no level). */
export function parseLogLine(line: string): LogEntry | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const { level, time, msg, controller, key, generation, ...rest } = raw as Record<string, unknown>;
  const levelNumber = typeof level === 'number' ? level : typeof level === 'string' ? levelValue(level) : undefined;
  if (levelNumber === undefined) return undefined;
  // A known field of an unexpected type stays among the other fields rather than being lost.
  const fields: Record<string, unknown> = {};
  if (typeof controller !== 'string' && controller !== undefined) fields.controller = controller;
  if (typeof key !== 'string' && key !== undefined) fields.key = key;
  if (typeof generation !== 'number' && generation !== undefined) fields.generation = generation;
  Object.assign(fields, rest);
  return {
    level: levelNumber,
    time: timeOf(time),
    msg: typeof msg === 'string' ? msg : msg === undefined ? '' : JSON.stringify(msg),
    controller: typeof controller === 'string' ? controller : undefined,
    key: typeof key === 'string' ? key : undefined,
    generation: typeof generation === 'number' ? generation : undefined,
    fields,
  };
}

/** Whether `entry` passes every criterion of `filter` (an empty filter passes everything). */
export function matchesFilter(entry: LogEntry, filter: LogFilter): boolean {
  if (filter.minLevel !== undefined && entry.level < filter.minLevel) return false;
  if (filter.controller !== undefined && entry.controller !== filter.controller) return false;
  if (filter.kind !== undefined && entry.controller?.toLowerCase() !== filter.kind.toLowerCase()) return false;
  if (filter.name !== undefined) {
    if (entry.key === undefined) return false;
    const name = filter.name.includes('/') ? entry.key : entry.key.slice(entry.key.indexOf('/') + 1);
    if (name !== filter.name) return false;
  }
  return true;
}

/** One readable line for `entry`: time, level, controller, key, generation, message, then the other fields. */
export function formatLogLine(entry: LogEntry, options: { readonly color: boolean }): string {
  const paint = (code: string, text: string) => (options.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const label = LEVEL_LABELS[entry.level] ?? String(entry.level);
  const context = [
    entry.controller === undefined ? '' : escapeControl(entry.controller),
    entry.key === undefined ? '' : escapeControl(entry.key),
    entry.generation === undefined ? '' : `gen ${entry.generation}`,
  ].filter((part) => part !== '');
  const head = [
    paint(TIME_COLOR, entry.time === undefined ? '--:--:--.---' : new Date(entry.time).toISOString().slice(11, 23)),
    // The level is padded to 5 so that what follows lines up, unless nothing follows on the head.
    paint(LEVEL_COLORS[entry.level] ?? '0', label) + (context.length > 0 ? ' '.repeat(Math.max(0, 5 - label.length)) : ''),
    ...(context.length > 0 ? [paint(CONTEXT_COLOR, context.join(' '))] : []),
  ].join(' ');

  const names = Object.keys(entry.fields).filter((name) => name !== 'err');
  if (Object.hasOwn(entry.fields, 'err')) names.push('err');
  const fields = names.map((name) => {
    const text = `${escapeControl(name)}=${fieldText(name, entry.fields[name])}`;
    return name === 'err' ? paint(ERROR_COLOR, text) : paint(FIELD_COLOR, text);
  });

  return [head, escapeControl(entry.msg), fields.join(' ')].filter((part) => part !== '').join('  ');
}

const LEVEL_LABELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** pino-pretty's palette: gray, blue, green, yellow, red, red background. */
const LEVEL_COLORS: Readonly<Record<number, string>> = { 10: '90', 20: '34', 30: '32', 40: '33', 50: '31', 60: '41' };
const TIME_COLOR = '90';
const CONTEXT_COLOR = '36';
const FIELD_COLOR = '2';
const ERROR_COLOR = '31';

function timeOf(time: unknown): number | undefined {
  const ms = typeof time === 'number' ? time : typeof time === 'string' ? Date.parse(time) : Number.NaN;
  // Outside ±8.64e15 ms a Date is invalid and toISOString would throw.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? ms : undefined;
}

function fieldText(name: string, value: unknown): string {
  if (name === 'reconcileId' && typeof value === 'string') return quoteIfNeeded(value.slice(0, 8));
  if (name === 'err' && typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string') {
    return quoteIfNeeded((value as { message: string }).message); // pino's err serializer: {type, message, stack}
  }
  if (typeof value === 'string') return quoteIfNeeded(value);
  return escapeControl(JSON.stringify(value) ?? String(value));
}

const NEEDS_QUOTES = /[\s"=\\\x00-\x1f\x7f-\x9f]/;

function quoteIfNeeded(text: string): string {
  if (text !== '' && !NEEDS_QUOTES.test(text)) return text;
  return `"${escapeControl(text.replace(/["\\]/g, '\\$&'))}"`;
}

const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;
const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Control characters (C0, DEL, C1) as visible escapes, so that no log line can drive the terminal. */
function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => NAMED_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
