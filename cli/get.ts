/**
 * `tend get KIND [NAME]`: objects as kubectl prints them (the CRDs' printer columns), or whole as
 * YAML or JSON with `-o`. Namespaced kinds list the `default` namespace unless -n or -A says otherwise.
 */
import { stringify } from 'yaml';
import { GROUP } from '../api/kinds.js';
import { keyOf, type Resource } from '../framework/index.js';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect, kindNamed } from './connection.js';
import { renderTable } from './format/table.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';

/** Usage text of the verb. */
export const GET_USAGE = `Usage: tend get KIND [NAME] [options]

List objects of a kind (tenants, apps, routes, volumes, nodes; short names tnt, tapp, troute,
tvol, tnode) as kubectl does, or print one.

Options:
  -n, --namespace NS    namespace of namespaced kinds (default: default)
  -A, --all-namespaces  every namespace
  -o, --output FORMAT   yaml, json or wide (default: a table)
${CONNECTION_USAGE}
  -h, --help            show this help`;

/** Run `tend get`; returns the exit code. */
export async function runGet(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help) {
    io.out(GET_USAGE);
    return EXIT.ok;
  }
  const [kindText, name, ...rest] = positionals;
  if (!kindText || rest.length > 0) throw new UsageError('get needs KIND [NAME]');
  const output = values.output;
  if (output !== undefined && !['yaml', 'json', 'wide'].includes(output)) throw new UsageError(`get: --output must be yaml, json or wide, got "${output}"`);
  const info = kindNamed(kindText);
  const namespaced = info.scope === 'Namespaced';
  const namespace = values.namespace ?? 'default';
  const connection = connect(values, env);
  try {
    const client = connection.client(info);
    let objects: Resource[];
    if (name) {
      const obj = await client.get(keyOf(namespaced ? namespace : undefined, name));
      if (!obj) {
        io.err(`tend: ${info.plural}.${GROUP} "${name}" not found${namespaced ? ` in namespace ${namespace}` : ''}`);
        return EXIT.invalid;
      }
      objects = [obj];
    } else {
      const { items } = await client.list();
      objects = items.filter((o) => !namespaced || values['all-namespaces'] || o.metadata.namespace === namespace);
    }
    if (output === 'json') io.out(JSON.stringify(name ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects }, null, 2));
    else if (output === 'yaml') io.out(stringify(name ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects }).trimEnd());
    else if (objects.length === 0) io.err(`No ${info.plural} found${namespaced && !values['all-namespaces'] ? ` in ${namespace} namespace` : ''}.`);
    else for (const line of renderTable(info.kind, objects, { now: new Date(), namespaced, wide: output === 'wide', allNamespaces: Boolean(values['all-namespaces']) })) io.out(line);
  } finally {
    await connection.close();
  }
  return EXIT.ok;
}

function parse(args: readonly string[]) {
  return parseVerbArgs(
    'get',
    args,
    {
      namespace: { type: 'string', short: 'n' },
      'all-namespaces': { type: 'boolean', short: 'A' },
      output: { type: 'string', short: 'o' },
      ...CONNECTION_OPTIONS,
    },
    true,
  );
}
