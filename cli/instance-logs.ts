/**
 * `tend logs app/NAME` and `tend logs instance/ID`: what instances print (stdout and stderr), as
 * their node agents shipped it into PostgreSQL (agents/node/log-shipping.ts). Instances on any
 * node, on either backend (the App is looked up where resources live; the lines are always in
 * tend's database), also of a node that is lost. An App's instances are merged by time, each line
 * prefixed with its instance, as `kubectl logs -l … --prefix` does.
 */
import { GROUP } from '../api/kinds.js';
import { type Key, sleep, type Store } from '../framework/index.js';
import { kindNamed, type Connection } from './connection.js';
import { EXIT, type CliIo } from './io.js';
import * as q from './instance-log-queries.js';
import { UsageError } from './usage-error.js';

/** Whose output: every instance of an App, or one instance. */
export type LogTarget = { readonly kind: 'app'; readonly namespace: string; readonly name: string } | { readonly kind: 'instance'; readonly id: string; readonly namespace?: string };

export interface InstanceLogOptions {
  readonly follow: boolean;
  /** The run before the current one (before the last restart). */
  readonly previous: boolean;
  readonly timestamps: boolean;
  /** The last N lines of each instance. */
  readonly tail?: number;
  /** Only lines read at or after this time. */
  readonly since?: Date;
}

/** How often `-f` looks for new lines (agents ship every 500 ms). */
const FOLLOW_POLL_MS = 250;

/** Prints the lines, then with `follow` the new ones until `stop` aborts; returns the exit code. */
export async function showInstanceLogs(connection: Connection, target: LogTarget, options: InstanceLogOptions, io: CliIo, stop: AbortSignal): Promise<number> {
  const store = connection.store;
  if (!store) throw new UsageError("logs: what instances print is kept in tend's PostgreSQL: pass --database-url too");
  let instances = await instancesOf(connection, store, target, io);
  if (!instances) return EXIT.invalid;
  const prefixed = target.kind === 'app';
  const print = (rows: readonly q.LogRow[]) => {
    for (const row of rows) {
      const head = `${prefixed ? `[${row.instance}] ` : ''}${options.timestamps ? `${row.at.toISOString()} ` : ''}`;
      for (const line of linesOf(row.lines)) io.out(head + line);
    }
  };

  const ids = instances.map((i) => i.id);
  const runs = await store.query<q.InstanceRuns>(q.runsOfInstances, [ids]);
  const chosen = runs.flatMap((r) => {
    const run = options.previous ? r.previous : r.current;
    return run ? [{ instance: r.instance, run, upTo: r.lastId }] : [];
  });
  if (options.previous && chosen.length === 0) {
    const whose = target.kind === 'app' ? `no instance of App ${target.namespace}/${target.name} has` : `instance ${target.id} has`;
    io.err(`tend: ${whose} a previous run that printed anything (the run before its last restart)`);
    return EXIT.invalid;
  }
  if (chosen.length > 0) {
    const rows = await store.query<q.LogRow>(q.linesOfRuns, [chosen.map((c) => c.instance), chosen.map((c) => c.run), chosen.map((c) => c.upTo), options.since ?? null, options.tail ?? null]);
    print(options.tail === undefined ? rows : lastLines(rows, options.tail));
  }
  if (target.kind === 'app' && instances.length === 0 && !options.follow) io.err(`tend: App ${target.namespace}/${target.name} has no instances`);
  // A previous run is over: there is nothing to follow (kubectl logs -p -f ends too).
  if (!options.follow || options.previous) return EXIT.ok;

  const cursors = new Map<string, string>(ids.map((id) => [id, '0']));
  for (const r of runs) cursors.set(r.instance, r.lastId);
  while (!stop.aborted) {
    await sleep(FOLLOW_POLL_MS, stop);
    if (stop.aborted) break;
    if (target.kind === 'app') {
      // Replacements and scale-ups join the stream from their first line.
      instances = await store.query<q.LoggedInstance>(q.instancesOfApp, [`${target.namespace}/${target.name}`]);
      for (const i of instances) if (!cursors.has(i.id)) cursors.set(i.id, '0');
    }
    const rows = await store.query<q.LogRow>(q.linesAfter, [[...cursors.keys()], [...cursors.values()]]);
    for (const row of rows) cursors.set(row.instance, row.id);
    print(rows.filter((r) => r.lines !== '').sort((a, b) => a.at.getTime() - b.at.getTime()));
  }
  return EXIT.ok;
}

/** The instances of the target; undefined (with a message) when the App or instance does not exist. */
async function instancesOf(connection: Connection, store: Store, target: LogTarget, io: CliIo): Promise<q.LoggedInstance[] | undefined> {
  if (target.kind === 'app') {
    const key = `${target.namespace}/${target.name}`;
    const app = await connection.client(kindNamed('App')).get(key as Key);
    if (!app) {
      io.err(`tend: apps.${GROUP} "${target.name}" not found in namespace ${target.namespace}`);
      return undefined;
    }
    return store.query<q.LoggedInstance>(q.instancesOfApp, [key]);
  }
  const [row] = await store.query<q.LoggedInstance>(q.instanceById, [target.id]);
  if (!row || (target.namespace !== undefined && !row.app.startsWith(`${target.namespace}/`))) {
    io.err(`tend: instance "${target.id}" not found${target.namespace !== undefined ? ` in namespace ${target.namespace}` : ''} (tend why app/NAME lists an App's instances)`);
    return undefined;
  }
  return [row];
}

/** Of each instance, only its last `tail` lines (the query returns whole chunks, a few more). */
export function lastLines(rows: readonly q.LogRow[], tail: number): q.LogRow[] {
  const total = new Map<string, number>();
  for (const r of rows) total.set(r.instance, (total.get(r.instance) ?? 0) + linesOf(r.lines).length);
  const skip = new Map([...total].map(([instance, n]) => [instance, Math.max(0, n - tail)]));
  const out: q.LogRow[] = [];
  for (const r of rows) {
    const lines = linesOf(r.lines);
    const drop = Math.min(skip.get(r.instance)!, lines.length);
    skip.set(r.instance, skip.get(r.instance)! - drop);
    if (drop < lines.length) out.push({ ...r, lines: `${lines.slice(drop).join('\n')}\n` });
  }
  return out;
}

/** The lines of a chunk, without their newlines. */
export function linesOf(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}
