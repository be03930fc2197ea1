import { describe, expect, it } from 'vitest';
import { LEVELS, formatLogLine, levelValue, matchesFilter, parseLogLine, type LogEntry } from '../../../../cli/format/log-line.js';
import { createLogger } from '../../../../framework/log/logger.js';

/** 2025-03-01T12:03:04.123Z */
const TIME = Date.UTC(2025, 2, 1, 12, 3, 4, 123);
const RECONCILE_ID = '1f6c2a9e-4b7d-4c1e-9a35-0d2f8e6b7c41';

const reconciled = JSON.stringify({
  level: 30,
  time: TIME,
  replica: 'tend-0',
  controller: 'app',
  key: 'default/hello',
  generation: 3,
  reconcileId: RECONCILE_ID,
  requeueAfterMs: 2000,
  msg: 'reconciled',
});

function entry(line: string): LogEntry {
  const parsed = parseLogLine(line);
  if (!parsed) throw new Error(`not a log line: ${line}`);
  return parsed;
}

/** Lines exactly as tend's own logger writes them (pino, ISO time, redaction, child bindings). */
function loggedLines(write: (log: ReturnType<typeof createLogger>) => void): string[] {
  const lines: string[] = [];
  const log = createLogger({ level: 'trace', replica: 'tend-1', destination: { write: (line: string) => void lines.push(line.trimEnd()) } });
  write(log);
  return lines;
}

describe('parseLogLine', () => {
  it('takes level, time, message, controller, key and generation apart and keeps the rest in order', () => {
    expect(parseLogLine(reconciled)).toEqual({
      level: 30,
      time: TIME,
      msg: 'reconciled',
      controller: 'app',
      key: 'default/hello',
      generation: 3,
      fields: { replica: 'tend-0', reconcileId: RECONCILE_ID, requeueAfterMs: 2000 },
    });
    expect(Object.keys(entry(reconciled).fields)).toEqual(['replica', 'reconcileId', 'requeueAfterMs']);
  });

  it("reads the lines of tend's logger, whose time is an ISO string", () => {
    const before = Date.now();
    const [line] = loggedLines((log) =>
      log.child({ controller: 'route' }).child({ key: 'shop/storefront', generation: 7, reconcileId: RECONCILE_ID }).error({ err: 'host taken' }, 'reconcile failed'),
    );
    const parsed = entry(line ?? '');
    expect(parsed).toMatchObject({ level: LEVELS.error, msg: 'reconcile failed', controller: 'route', key: 'shop/storefront', generation: 7 });
    expect(parsed.fields).toEqual({ replica: 'tend-1', reconcileId: RECONCILE_ID, err: 'host taken' });
    expect(parsed.time).toBeGreaterThanOrEqual(before - 1);
    expect(parsed.time).toBeLessThanOrEqual(Date.now());
  });

  it('returns undefined for lines that are not pino records', () => {
    expect(parseLogLine('listening on :8080')).toBeUndefined();
    expect(parseLogLine('')).toBeUndefined();
    expect(parseLogLine('{"level":30,"msg":"cut off')).toBeUndefined();
    expect(parseLogLine('[1,2,3]')).toBeUndefined();
    expect(parseLogLine('null')).toBeUndefined();
    expect(parseLogLine('{"msg":"no level"}')).toBeUndefined();
    expect(parseLogLine('{"level":"loud","msg":"unknown level"}')).toBeUndefined();
  });

  it('accepts level labels and tolerates missing or odd fields', () => {
    expect(parseLogLine('{"level":"warn","msg":"slow query"}')).toMatchObject({ level: 40, time: undefined, msg: 'slow query' });
    expect(parseLogLine('{"level":30,"time":"not a time"}')).toMatchObject({ time: undefined, msg: '' });
    const odd = entry('{"level":30,"msg":"x","generation":"3","key":["a"]}');
    expect(odd).toMatchObject({ generation: undefined, key: undefined });
    expect(odd.fields).toEqual({ key: ['a'], generation: '3' });
  });
});

describe('levelValue', () => {
  it('maps level names, in any case, to pino numbers', () => {
    expect(levelValue('warn')).toBe(40);
    expect(levelValue('DEBUG')).toBe(20);
    expect(levelValue('verbose')).toBeUndefined();
    expect(levelValue('toString')).toBeUndefined();
  });
});

describe('matchesFilter', () => {
  const app = entry(reconciled);
  const node = entry('{"level":40,"time":0,"controller":"node","key":"n1","msg":"heartbeat late"}');
  const membership = entry('{"level":30,"time":0,"component":"membership","msg":"joined"}');

  it('passes everything with an empty filter', () => {
    expect([app, node, membership].every((e) => matchesFilter(e, {}))).toBe(true);
  });

  it('matches a kind to its controller, ignoring case', () => {
    expect(matchesFilter(app, { kind: 'App' })).toBe(true);
    expect(matchesFilter(app, { kind: 'app' })).toBe(true);
    expect(matchesFilter(app, { kind: 'Route' })).toBe(false);
    expect(matchesFilter(node, { kind: 'Node' })).toBe(true);
    expect(matchesFilter(membership, { kind: 'App' })).toBe(false);
  });

  it('matches a name to the name part of namespaced and cluster-scoped keys', () => {
    expect(matchesFilter(app, { name: 'hello' })).toBe(true);
    expect(matchesFilter(app, { name: 'default' })).toBe(false);
    expect(matchesFilter(app, { name: 'hell' })).toBe(false);
    expect(matchesFilter(node, { name: 'n1' })).toBe(true);
    expect(matchesFilter(membership, { name: 'hello' })).toBe(false);
  });

  it('matches a namespace/name against the whole key', () => {
    expect(matchesFilter(app, { name: 'default/hello' })).toBe(true);
    expect(matchesFilter(app, { name: 'shop/hello' })).toBe(false);
  });

  it('matches a controller exactly and drops lines below the minimum level', () => {
    expect(matchesFilter(app, { controller: 'app' })).toBe(true);
    expect(matchesFilter(app, { controller: 'App' })).toBe(false);
    expect(matchesFilter(app, { minLevel: LEVELS.info })).toBe(true);
    expect(matchesFilter(app, { minLevel: LEVELS.warn })).toBe(false);
    expect(matchesFilter(node, { minLevel: LEVELS.warn })).toBe(true);
  });

  it('requires every criterion', () => {
    expect(matchesFilter(app, { kind: 'App', name: 'hello', minLevel: LEVELS.info })).toBe(true);
    expect(matchesFilter(app, { kind: 'App', name: 'web' })).toBe(false);
    expect(matchesFilter(app, { kind: 'Node', name: 'hello' })).toBe(false);
  });
});

describe('formatLogLine', () => {
  it('prints time, level, controller, key, generation, message, then the other fields', () => {
    expect(formatLogLine(entry(reconciled), { color: false })).toBe(
      '12:03:04.123 INFO  app default/hello gen 3  reconciled  replica=tend-0 reconcileId=1f6c2a9e requeueAfterMs=2000',
    );
  });

  it('puts err last, quoted when it holds spaces', () => {
    const line = JSON.stringify({ level: 50, time: TIME, controller: 'app', key: 'shop/web', generation: 7, err: 'node n1 is full', failures: 3, msg: 'reconcile failed; retrying with backoff' });
    expect(formatLogLine(entry(line), { color: false })).toBe(
      '12:03:04.123 ERROR app shop/web gen 7  reconcile failed; retrying with backoff  failures=3 err="node n1 is full"',
    );
  });

  it("shows the message of pino's serialized errors, not the stack", () => {
    const line = JSON.stringify({ level: 50, time: TIME, err: { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:5432', stack: 'Error: connect…\n    at …' }, msg: 'store down' });
    expect(formatLogLine(entry(line), { color: false })).toBe('12:03:04.123 ERROR  store down  err="connect ECONNREFUSED 127.0.0.1:5432"');
  });

  it('omits what a line does not have', () => {
    expect(formatLogLine(entry('{"level":30,"time":0,"msg":"joined"}'), { color: false })).toBe('00:00:00.000 INFO  joined');
    expect(formatLogLine(entry('{"level":20,"msg":"tick","controller":"node"}'), { color: false })).toBe('--:--:--.--- DEBUG node  tick');
    expect(formatLogLine(entry('{"level":35,"time":0,"key":"n1"}'), { color: false })).toBe('00:00:00.000 35    n1');
  });

  it('quotes strings only when needed and prints other values as JSON', () => {
    const line = JSON.stringify({ level: 30, time: TIME, msg: 'x', plain: 'tend-0', empty: '', spaced: 'a b', quote: 'say "hi"', eq: 'a=b', n: 1.5, ok: true, none: null, list: [1, 'two'], obj: { a: 1 } });
    expect(formatLogLine(entry(line), { color: false })).toBe(
      '12:03:04.123 INFO  x  plain=tend-0 empty="" spaced="a b" quote="say \\"hi\\"" eq="a=b" n=1.5 ok=true none=null list=[1,"two"] obj={"a":1}',
    );
  });

  it('never lets control characters reach the terminal', () => {
    const line = JSON.stringify({ level: 30, time: TIME, msg: 'line one\nline two \x1b[2J', key: 'default/\x1bweb', detail: 'red\x1b[31m' });
    const text = formatLogLine(entry(line), { color: false });
    expect(text).toBe('12:03:04.123 INFO  default/\\u001bweb  line one\\nline two \\u001b[2J  detail="red\\u001b[31m"');
    expect(text).not.toMatch(/[\x00-\x1f]/);
  });

  it('colours the level and the context only when asked', () => {
    const plain = formatLogLine(entry(reconciled), { color: false });
    const coloured = formatLogLine(entry(reconciled), { color: true });
    expect(plain).not.toContain('\x1b');
    expect(coloured).toContain('\x1b[32mINFO\x1b[0m');
    expect(coloured.replace(/\x1b\[\d+m/g, '')).toBe(plain);
  });
});
