/**
 * `tend delete KIND NAME...` or `tend delete -f FILE`: delete objects. An object with finalizers
 * stays until its controller has cleaned up (`tend get` shows it; `tend why` says what it waits for).
 */
import { readFileSync } from 'node:fs';
import { GROUP, findKind } from '../api/kinds.js';
import { findManifestFiles } from '../api/manifest-files.js';
import { parseManifests } from '../api/manifests.js';
import type { KindInfo } from '../api/kinds.js';
import { keyOf } from '../framework/index.js';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect, kindAndName, kindNamed } from './connection.js';
import { EXIT, type CliIo } from './io.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';

/** Usage text of the verb. */
export const DELETE_USAGE = `Usage: tend delete KIND NAME [NAME...] | KIND/NAME | -f FILE|DIR [options]

Delete objects. Their controllers clean up first (stop instances, remove routes), then the
object disappears.

Options:
  -f, --filename PATH   delete the objects a file or folder describes (repeatable)
  -n, --namespace NS    namespace of namespaced kinds (default: default)
  --ignore-not-found    an object that does not exist is not an error
${CONNECTION_USAGE}
  -h, --help            show this help`;

/** Run `tend delete`; returns the exit code. */
export async function runDelete(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help) {
    io.out(DELETE_USAGE);
    return EXIT.ok;
  }
  const namespace = values.namespace ?? 'default';
  const targets = values.filename ? fromFiles(values.filename, namespace) : fromPositionals(positionals, namespace);
  if (targets.length === 0) throw new UsageError('delete needs KIND NAME or -f FILE');
  const connection = connect(values, env);
  let failed = false;
  try {
    for (const { info, namespace: ns, name } of targets) {
      const client = connection.client(info);
      const key = keyOf(ns, name);
      const label = `${info.singular}.${GROUP} "${name}"`;
      if (!(await client.get(key))) {
        if (!values['ignore-not-found']) {
          io.err(`tend: ${label} not found${ns ? ` in namespace ${ns}` : ''}`);
          failed = true;
        }
        continue;
      }
      await client.delete(key);
      io.out(`${label} deleted`);
    }
  } finally {
    await connection.close();
  }
  return failed ? EXIT.invalid : EXIT.ok;
}

interface Target {
  readonly info: KindInfo;
  readonly namespace: string | undefined;
  readonly name: string;
}

function fromPositionals(positionals: readonly string[], namespace: string): Target[] {
  if (positionals.length === 0) return [];
  if (positionals.every((p) => p.includes('/'))) {
    return positionals.map((p) => {
      const { info, name } = kindAndName('delete', [p]);
      return { info, name, namespace: info.scope === 'Namespaced' ? namespace : undefined };
    });
  }
  const [kind, ...names] = positionals;
  const info = kindNamed(kind!);
  if (names.length === 0) throw new UsageError('delete needs KIND NAME');
  return names.map((name) => ({ info, name, namespace: info.scope === 'Namespaced' ? namespace : undefined }));
}

function fromFiles(paths: readonly string[], namespace: string): Target[] {
  const targets: Target[] = [];
  for (const path of paths) {
    for (const file of findManifestFiles(path)) {
      for (const { object } of parseManifests(file, readFileSync(file, 'utf8')).manifests) {
        const o = object as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
        const info = typeof o?.kind === 'string' ? findKind(o.kind) : undefined;
        const name = o?.metadata?.name;
        if (!info || typeof name !== 'string') continue;
        const ns = info.scope === 'Namespaced' ? (typeof o?.metadata?.namespace === "string" ? o.metadata.namespace : namespace) : undefined;
        targets.push({ info, name, namespace: ns });
      }
    }
  }
  return targets;
}

function parse(args: readonly string[]) {
  return parseVerbArgs(
    'delete',
    args,
    {
      filename: { type: 'string', short: 'f', multiple: true },
      namespace: { type: 'string', short: 'n' },
      'ignore-not-found': { type: 'boolean' },
      ...CONNECTION_OPTIONS,
    },
    true,
  );
}
