/**
 * `tend rollout history|undo app/NAME`, as kubectl's for Deployments. The history is the App
 * controller's record in PostgreSQL (platform.app_revisions: the last 10 revisions, what each ran
 * and when), readable whichever replica wrote it; `undo` writes an older revision's template back
 * into the App's spec — a user's action, like any apply, on either backend — and the App rolls
 * out to it as usual.
 */
import { stringify } from 'yaml';
import { GROUP } from '../api/kinds.js';
import type { App } from '../api/types/app.js';
import { revisionsOfApp } from '../controllers/app-revision-queries.js';
import { ConflictError, keyOf } from '../framework/index.js';
import { revisionTemplateOf, sameTemplate, withTemplate, type RevisionRow } from '../reconcilers/app-revisions.js';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect, kindAndName, kindNamed, type Connection } from './connection.js';
import { revisionTable } from './format/revisions.js';
import { indented } from './format/sections.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';
import { wholeNumber } from './whole-number.js';

/** Usage text of the verb. */
export const ROLLOUT_USAGE = `Usage: tend rollout history app/NAME [--revision N] [options]
       tend rollout undo app/NAME [--to-revision N] [options]

history lists the App's last 10 revisions (and the newest that was fully available): number,
id, when each became the spec's and when it first had every replica ready, which is current
(status.revision), and which failed and were rolled back (spec.rollout.autoRollback).
--revision N prints what revision N ran.
undo writes revision N (default: the newest whose template differs from the spec's) back into
the App's spec, as kubectl rollout undo does; the App then rolls out to it. A GitOps tool will
see the change: put it in the repository too.

Options:
  --revision N          history: print the template of revision N
  --to-revision N       undo: the revision to return to (default: the previous one)
  -n, --namespace NS    the App's namespace (default: default)
${CONNECTION_USAGE}
  -h, --help            show this help`;

/** Run `tend rollout …`; returns the exit code. */
export async function runRollout(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help') {
    io.out(ROLLOUT_USAGE);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub !== 'history' && sub !== 'undo') throw new UsageError(`rollout: unknown subcommand "${sub}" (history or undo)`);
  const { values, positionals } = parseVerbArgs(
    `rollout ${sub}`,
    rest,
    { revision: { type: 'string' }, 'to-revision': { type: 'string' }, namespace: { type: 'string', short: 'n' }, ...CONNECTION_OPTIONS },
    true,
  );
  if (values.help) {
    io.out(ROLLOUT_USAGE);
    return EXIT.ok;
  }
  const { info, name } = kindAndName(`rollout ${sub}`, positionals);
  if (info.kind !== 'App') throw new UsageError(`rollout ${sub}: only Apps have revisions, not ${info.plural}`);
  if (sub === 'history' && values['to-revision'] !== undefined) throw new UsageError('rollout history: --to-revision is for undo (did you mean --revision?)');
  if (sub === 'undo' && values.revision !== undefined) throw new UsageError('rollout undo: --revision is for history (did you mean --to-revision?)');
  const wanted = values.revision ?? values['to-revision'];
  const number = wanted === undefined ? undefined : wholeNumber(`rollout ${sub}`, sub === 'undo' ? 'to-revision' : 'revision', wanted, 1);
  const namespace = values.namespace ?? 'default';
  const connection = connect(values, env);
  try {
    const app = await connection.client<App>(info).get(keyOf(namespace, name));
    if (!app) {
      io.err(`tend: ${info.plural}.${GROUP} "${name}" not found in namespace ${namespace}`);
      return EXIT.invalid;
    }
    const history = await historyOf(connection, app);
    return sub === 'history' ? printHistory(io, app, history, number) : await undo(io, connection, app, history, number);
  } finally {
    await connection.close();
  }
}

async function historyOf(connection: Connection, app: App): Promise<RevisionRow[]> {
  if (!connection.store) throw new UsageError("rollout: the revision history is in tend's PostgreSQL: pass --database-url");
  return connection.store.query<RevisionRow>(revisionsOfApp, [app.metadata.uid]);
}

function printHistory(io: CliIo, app: App, history: readonly RevisionRow[], number: number | undefined): number {
  const title = `app.${GROUP}/${app.metadata.name}`;
  if (number !== undefined) {
    const row = history.find((r) => r.number === number);
    if (!row) return missing(io, app, number);
    io.out(`${title} with revision #${number} (${row.revision})`);
    for (const line of indented(stringify(row.template).trimEnd())) io.out(line);
    return EXIT.ok;
  }
  io.out(title);
  if (history.length === 0) {
    io.out('  no revisions recorded yet (a controller records each when it first reconciles it)');
    return EXIT.ok;
  }
  for (const line of revisionTable(app, history)) io.out(line);
  return EXIT.ok;
}

async function undo(io: CliIo, connection: Connection, app: App, history: readonly RevisionRow[], number: number | undefined): Promise<number> {
  const title = `app.${GROUP}/${app.metadata.name}`;
  const newestFirst = [...history].sort((a, b) => b.number - a.number);
  const target = number !== undefined ? history.find((r) => r.number === number) : newestFirst.find((r) => !sameTemplate(r.template, revisionTemplateOf(app)));
  if (!target) {
    if (number !== undefined) return missing(io, app, number);
    io.err(`tend: ${title} has no earlier revision to roll back to (tend rollout history app/${app.metadata.name})`);
    return EXIT.invalid;
  }
  const client = connection.client<App>(kindNamed('App'));
  for (let attempt = 1, current = app; ; attempt++) {
    if (sameTemplate(target.template, revisionTemplateOf(current))) {
      io.out(`${title} skipped rollback (current template already matches revision ${target.number})`);
      return EXIT.ok;
    }
    try {
      await client.update(withTemplate(current, target.template));
      io.out(`${title} rolled back to revision ${target.number} (${target.revision})`);
      return EXIT.ok;
    } catch (err) {
      // Someone (a controller's finalizer, another user) wrote it meanwhile: read it again.
      if (!(err instanceof ConflictError) || attempt >= 5) throw err;
      const again = await client.get(keyOf(app.metadata.namespace, app.metadata.name!));
      if (!again) throw new Error(`${title} was deleted meanwhile`);
      current = again;
    }
  }
}

function missing(io: CliIo, app: App, number: number): number {
  io.err(`tend: app.${GROUP}/${app.metadata.name} has no revision ${number} (tend rollout history app/${app.metadata.name} lists them)`);
  return EXIT.invalid;
}
