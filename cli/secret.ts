/**
 * `tend secret create|delete|list`: Secrets for App env entries (valueFrom.secretKeyRef), on
 * either backend — the cluster's core/v1 Secrets with --kubeconfig, else the Secrets tend stores
 * sealed to the control plane (standalone). A value is read from the flags or a file, sealed or
 * sent at once, and printed nowhere; `list` shows keys, never values.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { keyOf } from '../framework/index.js';
import { secretInClear } from '../secrets/manifest-secret.js';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect } from './connection.js';
import { columns } from './format/sections.js';
import { formatAge } from './format/table.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';

/** Usage text of the verb. */
export const SECRET_USAGE = `Usage: tend secret create NAME [--from-literal KEY=VALUE]... [--from-file [KEY=]PATH]... [options]
       tend secret delete NAME [options]
       tend secret list [options]

Secrets that App env entries reference (valueFrom.secretKeyRef {name, key}). With --kubeconfig
they are the cluster's Secrets; otherwise tend stores them, each value sealed to the control
plane's key (PostgreSQL never holds one in clear). To change one, apply a v1 Secret YAML with
tend apply -f (the same file works on both). Values are never printed.

Options:
  --from-literal KEY=VALUE   a key and its value (repeatable); mind your shell history
  --from-file [KEY=]PATH     a key and the file holding its value; KEY defaults to the file's name
  --type TYPE                the Secret's type (default: Opaque)
  -n, --namespace NS         the Secret's namespace, that of the Apps using it (default: default)
${CONNECTION_USAGE}
  -h, --help                 show this help`;

/** Run `tend secret …`; returns the exit code. */
export async function runSecret(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help') {
    io.out(SECRET_USAGE);
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub !== 'create' && sub !== 'delete' && sub !== 'list') throw new UsageError(`secret: unknown subcommand "${sub}" (create, delete or list)`);
  const { values, positionals } = parseVerbArgs(
    `secret ${sub}`,
    rest,
    {
      'from-literal': { type: 'string', multiple: true },
      'from-file': { type: 'string', multiple: true },
      type: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      ...CONNECTION_OPTIONS,
    },
    true,
  );
  if (values.help) {
    io.out(SECRET_USAGE);
    return EXIT.ok;
  }
  const namespace = values.namespace ?? 'default';
  if (sub === 'list') {
    if (positionals.length > 0) throw new UsageError('secret list takes no names');
    return list(values, namespace, io, env);
  }
  const [name, ...extra] = positionals;
  if (name === undefined || extra.length > 0) throw new UsageError(`secret ${sub} needs exactly one NAME`);
  if (sub === 'delete') return remove(values, namespace, name, io, env);

  const data = new Map<string, Buffer>();
  for (const literal of values['from-literal'] ?? []) {
    const at = literal.indexOf('=');
    if (at <= 0) throw new UsageError('secret create: --from-literal takes KEY=VALUE');
    add(data, literal.slice(0, at), Buffer.from(literal.slice(at + 1), 'utf8'));
  }
  for (const spec of values['from-file'] ?? []) {
    const at = spec.indexOf('=');
    const [key, path] = at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [basename(spec), spec];
    let content: Buffer;
    try {
      content = readFileSync(path);
    } catch (err) {
      throw new UsageError(`secret create: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    add(data, key, content);
  }
  if (data.size === 0) throw new UsageError('secret create needs at least one --from-literal or --from-file');
  let secret;
  try {
    secret = secretInClear(namespace, name, values.type ?? 'Opaque', {}, data);
  } catch (err) {
    io.err(`tend: Secret ${namespace}/${name}: ${(err as Error).message}`);
    return EXIT.invalid;
  }
  const connection = connect(values, env);
  try {
    const secrets = connection.secrets();
    if (await secrets.client.get(keyOf(namespace, name))) {
      io.err(`tend: secrets "${name}" already exists in namespace ${namespace} (change it with tend apply -f, or delete it first)`);
      return EXIT.invalid;
    }
    await secrets.put(secret);
    io.out(`secret/${name} created`);
  } finally {
    await connection.close();
  }
  return EXIT.ok;
}

function add(data: Map<string, Buffer>, key: string, value: Buffer): void {
  if (data.has(key)) throw new UsageError(`secret create: key ${key} given twice`);
  data.set(key, value);
}

async function remove(values: Parameters<typeof connect>[0], namespace: string, name: string, io: CliIo, env: NodeJS.ProcessEnv): Promise<number> {
  const connection = connect(values, env);
  try {
    if (!(await connection.secrets().delete(namespace, name))) {
      io.err(`tend: secrets "${name}" not found in namespace ${namespace}`);
      return EXIT.invalid;
    }
    io.out(`secret "${name}" deleted`);
    return EXIT.ok;
  } finally {
    await connection.close();
  }
}

async function list(values: Parameters<typeof connect>[0], namespace: string, io: CliIo, env: NodeJS.ProcessEnv): Promise<number> {
  const connection = connect(values, env);
  try {
    const secrets = connection.secrets();
    const { items } = await secrets.client.list();
    const now = new Date();
    const rows = items
      .filter((s) => s.metadata.namespace === namespace)
      .map((s) => {
        const keys = Object.keys(s.spec?.data ?? s.data ?? {}).sort();
        return [s.metadata.name, s.spec?.type ?? s.type ?? 'Opaque', keys.join(',') || '<none>', s.metadata.creationTimestamp ? formatAge(new Date(s.metadata.creationTimestamp), now) : ''];
      });
    if (rows.length === 0) io.out(`No secrets in namespace ${namespace}.`);
    else io.out(columns([['NAME', 'TYPE', 'KEYS', 'AGE'], ...rows], '').join('\n'));
    return EXIT.ok;
  } finally {
    await connection.close();
  }
}
