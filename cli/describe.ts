/**
 * `tend describe KIND/NAME`: one object in full for a person — metadata, spec, status, conditions
 * and its recent events — like `kubectl describe`.
 */
import { stringify } from 'yaml';
import { GROUP } from '../api/kinds.js';
import { type Condition, keyOf, type Resource } from '../framework/index.js';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect, kindAndName } from './connection.js';
import type { App } from '../api/types/app.js';
import { envSection } from './format/app-env.js';
import { columns, field, indented } from './format/sections.js';
import { formatAge } from './format/table.js';
import { EXIT, type CliIo } from './io.js';
import { objectEvents } from './object-events.js';
import { parseVerbArgs } from './verb-args.js';

/** Usage text of the verb. */
export const DESCRIBE_USAGE = `Usage: tend describe KIND/NAME [options]

Show one object in full: metadata, spec, status, conditions and recent events.

Options:
  -n, --namespace NS    namespace of namespaced kinds (default: default)
${CONNECTION_USAGE}
  -h, --help            show this help`;

/** Run `tend describe`; returns the exit code. */
export async function runDescribe(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parse(args, 'describe');
  if (values.help) {
    io.out(DESCRIBE_USAGE);
    return EXIT.ok;
  }
  const { info, name } = kindAndName('describe', positionals);
  const namespace = info.scope === 'Namespaced' ? (values.namespace ?? 'default') : undefined;
  const connection = connect(values, env);
  try {
    const obj = await connection.client(info).get(keyOf(namespace, name));
    if (!obj) {
      io.err(`tend: ${info.plural}.${GROUP} "${name}" not found${namespace ? ` in namespace ${namespace}` : ''}`);
      return EXIT.invalid;
    }
    const now = new Date();
    for (const line of describeObject(obj, now)) io.out(line);
    io.out('Events:');
    const events = await objectEvents(connection, obj);
    if (events.length === 0) io.out('  <none>');
    else io.out(columns([['TYPE', 'REASON', 'AGE', 'FROM', 'MESSAGE'], ...events.map((e) => [e.type, e.reason, `${formatAge(e.lastSeen, now)}${e.count > 1 ? ` (x${e.count})` : ''}`, e.from, e.message])]).join('\n'));
  } finally {
    await connection.close();
  }
  return EXIT.ok;
}

/** Everything but the events, as lines. */
export function describeObject(obj: Resource, now: Date): string[] {
  const m = obj.metadata;
  const { conditions, ...status } = (obj.status ?? {}) as { conditions?: Condition[] } & Record<string, unknown>;
  const labels = Object.entries(m.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return [
    field('Name', m.name),
    ...(m.namespace ? [field('Namespace', m.namespace)] : []),
    field('Kind', `${obj.kind} (${obj.apiVersion})`),
    field('Labels', labels.length ? labels.join(', ') : '<none>'),
    field('Created', m.creationTimestamp ? `${m.creationTimestamp} (${formatAge(new Date(m.creationTimestamp), now)} ago)` : '<unknown>'),
    field('Generation', String(m.generation ?? '')),
    field('Resource Version', m.resourceVersion ?? ''),
    ...(m.finalizers?.length ? [field('Finalizers', m.finalizers.join(', '))] : []),
    ...(m.deletionTimestamp ? [field('Deleting since', m.deletionTimestamp)] : []),
    'Spec:',
    ...indented(stringify(obj.spec ?? {})),
    ...(obj.kind === 'App' ? envSection(obj as App) : []),
    'Status:',
    ...(Object.keys(status).length ? indented(stringify(status)) : ['  <none>']),
    'Conditions:',
    ...(conditions?.length
      ? columns([
          ['TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
          ...conditions.map((c) => [c.type, c.status, c.reason, c.lastTransitionTime ? formatAge(new Date(c.lastTransitionTime), now) : '', c.message]),
        ])
      : ['  <none>']),
  ];
}

/** The flags of describe and why. */
export function parse(args: readonly string[], verb: string) {
  return parseVerbArgs(
    verb,
    args,
    {
      namespace: { type: 'string', short: 'n' },
      ...CONNECTION_OPTIONS,
    },
    true,
  );
}
