/**
 * `tend logs`, two kinds of logs told apart by what is named, as kubectl does:
 * - `tend logs app/NAME` and `tend logs instance/ID`: what the instances print (instance-logs.ts),
 *   like `kubectl logs deploy/NAME` and `kubectl logs POD`.
 * - `tend logs` with no object, with another kind, or with `--journal`: what the controllers did,
 *   from the reconcile journal in PostgreSQL (every replica's reconciles, on either backend);
 *   `--file` reads pino JSON logs instead (tend up's tend.log, or `kubectl logs deploy/tend | tend
 *   logs --file -`). Filters by kind/name, controller and level.
 * `-f` keeps following either.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { entriesAfter, type JournalRow, latestEntries } from '../framework/index.js';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect, kindNamed } from './connection.js';
import { parseDuration } from './duration.js';
import { showInstanceLogs, type LogTarget } from './instance-logs.js';
import { formatLogLine, levelValue, matchesFilter, parseLogLine, type LogEntry, type LogFilter } from './format/log-line.js';
import { EXIT, processIo, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';
import { wholeNumber } from './whole-number.js';

/** Usage text of the verb. */
export const LOGS_USAGE = `Usage: tend logs app/NAME | instance/ID [options]     what instances print
       tend logs [--journal] [KIND[/NAME]] [options]    what the controllers did

tend logs app/NAME prints the output (stdout and stderr) of every instance of the App, on any
node, merged by time, each line prefixed with [INSTANCE]; tend logs instance/ID one instance's.
Node agents ship it into tend's PostgreSQL every 500 ms and keep the newest 256 KiB of each
instance's current and previous run (tend agent --log-keep-bytes).

Without app/NAME or instance/ID — no object, another kind, or --journal (tend logs --journal
app/NAME) — it shows the reconcile journal instead: one line per reconcile of any replica, from
PostgreSQL. With --file, it formats pino JSON log lines.

Options:
  -f, --follow          keep printing new lines until Ctrl-C (an instance's restarts included)
  --tail N              the last N lines of each instance (default: all kept); journal: entries (default: 20)
  --since DURATION      instances: only lines from the last DURATION (90s, 10m, 2h)
  -p, --previous        instances: the run before the last restart (after a crash or OOMKilled)
  --timestamps          instances: each line with the time its agent read it (RFC 3339)
  -n, --namespace NS    namespace of the App (default: default), of the instance (default: any);
                        journal: of a NAME (default: any)
  --journal             the reconcile journal, also of an App
  --controller NAME     journal: only this controller (tenant, node, app, route)
  --level LEVEL         journal: lowest level shown: debug|info|warn|error (default: info for --file, all for the journal)
  --file PATH           read pino JSON lines from PATH (- for standard input), e.g. .tend/tend.log
${CONNECTION_USAGE}
  -h, --help            show this help`;

/** Run `tend logs`; returns the exit code. */
export async function runLogs(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help) {
    io.out(LOGS_USAGE);
    return EXIT.ok;
  }
  if (positionals.length > 1) throw new UsageError('logs takes at most one app/NAME, instance/ID or KIND[/NAME]');
  const target = values.journal || values.file !== undefined ? undefined : instanceTarget(positionals[0], values.namespace);
  const stop = signal ?? (values.follow ? stopOnSignal() : new AbortController().signal);
  if (target) {
    for (const flag of ['controller', 'level'] as const) if (values[flag] !== undefined) throw new UsageError(`logs: --${flag} is for the reconcile journal (tend logs --journal …), not for what instances print`);
    const options = {
      follow: Boolean(values.follow),
      previous: Boolean(values.previous),
      timestamps: Boolean(values.timestamps),
      ...(values.tail !== undefined ? { tail: wholeNumber('logs', 'tail', values.tail, 0) } : {}),
      ...(values.since !== undefined ? { since: new Date(Date.now() - parseDuration('logs', 'since', values.since)) } : {}),
    };
    const connection = connect(values, env);
    try {
      return await showInstanceLogs(connection, target, options, io, stop);
    } finally {
      await connection.close();
    }
  }
  for (const flag of ['since', 'previous', 'timestamps'] as const) {
    if (values[flag] !== undefined) throw new UsageError(`logs: --${flag} is for what instances print: tend logs app/NAME or instance/ID`);
  }
  const filter = filterOf(positionals[0], values);
  const color = io === processIo && Boolean(process.stdout.isTTY);
  if (values.file !== undefined) {
    const lines = values.file === '-' ? io.readStdin().split('\n') : undefined;
    if (lines) {
      for (const line of lines) show(parseLogLine(line), filter, io, color);
      return EXIT.ok;
    }
    await followFile(values.file, Boolean(values.follow), (entry) => show(entry, filter, io, color), stop);
    return EXIT.ok;
  }
  const tail = values.tail === undefined ? 20 : wholeNumber('logs', 'tail', values.tail, 0);
  const connection = connect(values, env);
  const store = connection.store!;
  try {
    let last = '0';
    const first = await store.query<JournalRow>(latestEntries, [filter.name || filter.kind || filter.controller ? 10_000 : tail]);
    const shown = first.map(journalEntry).filter((e) => matchesFilter(e, filter));
    for (const entry of shown.slice(-tail)) io.out(formatLogLine(entry, { color }));
    if (first.length > 0) last = first[first.length - 1]!.id;
    while (values.follow && !stop.aborted) {
      const rows = await store.query<JournalRow>(entriesAfter, [last, 500]);
      for (const row of rows) show(journalEntry(row), filter, io, color);
      if (rows.length > 0) last = rows[rows.length - 1]!.id;
      else await sleep(500, undefined, { signal: stop }).catch(() => {});
    }
  } finally {
    await connection.close();
  }
  return EXIT.ok;
}

function show(entry: LogEntry | undefined, filter: LogFilter, io: CliIo, color: boolean): void {
  if (entry && matchesFilter(entry, filter)) io.out(formatLogLine(entry, { color }));
}

/** A journal row in the shape of a log line: errors at error level, the rest at info. */
function journalEntry(row: JournalRow): LogEntry {
  return {
    level: row.result === 'error' ? 50 : 30,
    time: row.at.getTime(),
    msg: row.result === 'error' ? 'reconcile failed' : row.result === 'success' ? 'reconciled' : row.result === 'requeue_after' ? 'reconciled; looking again later' : 'retrying',
    controller: row.controller,
    key: row.key,
    generation: row.generation === null ? undefined : Number(row.generation),
    fields: { replica: row.replica, took: `${Math.round(row.duration_ms)}ms`, ...(row.message ? { [row.result === 'error' ? 'err' : 'detail']: row.message } : {}) },
  };
}

/** app/NAME or instance/ID, whose output is asked for; undefined for anything else (the journal). */
function instanceTarget(text: string | undefined, namespace: string | undefined): LogTarget | undefined {
  if (!text?.includes('/')) return undefined;
  const [kind, name] = text.split('/', 2) as [string, string];
  if (!name) throw new UsageError(`logs: missing name in "${text}"`);
  if (kind === 'instance' || kind === 'instances') return { kind: 'instance', id: name, ...(namespace !== undefined ? { namespace } : {}) };
  if (kindNamed(kind).kind !== 'App') return undefined;
  return { kind: 'app', namespace: namespace ?? 'default', name };
}

function filterOf(target: string | undefined, values: { controller?: string | undefined; level?: string | undefined; file?: string | undefined; namespace?: string | undefined }): LogFilter {
  const level = values.level ?? (values.file !== undefined ? 'info' : undefined);
  const minLevel = level === undefined ? undefined : levelValue(level);
  if (level !== undefined && minLevel === undefined) throw new UsageError(`logs: --level must be trace, debug, info, warn or error, got "${level}"`);
  let kind: string | undefined;
  let name: string | undefined;
  if (target) {
    const [kindText, objectName] = target.split('/', 2);
    kind = kindNamed(kindText!).kind;
    if (objectName) name = values.namespace ? `${values.namespace}/${objectName}` : objectName;
  }
  return {
    ...(kind ? { kind } : {}),
    ...(name ? { name } : {}),
    ...(values.controller ? { controller: values.controller } : {}),
    ...(minLevel !== undefined ? { minLevel } : {}),
  };
}

/** Reads a file's lines, then (with follow) the lines appended to it, like `tail -f`. */
async function followFile(path: string, follow: boolean, onEntry: (entry: LogEntry | undefined) => void, signal: AbortSignal): Promise<void> {
  let offset = 0;
  let partial = '';
  const buffer = Buffer.alloc(64 * 1024);
  for (;;) {
    const size = statSync(path).size;
    if (size < offset) offset = 0; // truncated or replaced
    const fd = openSync(path, 'r');
    try {
      while (offset < size) {
        const n = readSync(fd, buffer, 0, Math.min(buffer.length, size - offset), offset);
        if (n === 0) break;
        offset += n;
        const lines = (partial + buffer.subarray(0, n).toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) onEntry(parseLogLine(line));
      }
    } finally {
      closeSync(fd);
    }
    if (!follow || signal.aborted) return;
    await sleep(300, undefined, { signal }).catch(() => {});
    if (signal.aborted) return;
  }
}

function stopOnSignal(): AbortSignal {
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  return stop.signal;
}

function parse(args: readonly string[]) {
  return parseVerbArgs(
    'logs',
    args,
    {
      follow: { type: 'boolean', short: 'f' },
      tail: { type: 'string' },
      controller: { type: 'string' },
      level: { type: 'string' },
      file: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      journal: { type: 'boolean' },
      since: { type: 'string' },
      previous: { type: 'boolean', short: 'p' },
      timestamps: { type: 'boolean' },
      ...CONNECTION_OPTIONS,
    },
    true,
  );
}
