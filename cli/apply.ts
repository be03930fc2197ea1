/**
 * `tend apply -f FILE|DIR`: create or update tend objects from YAML, on either backend. Each
 * object is admitted by the server (the CRD schema on Kubernetes, the same schemas in standalone
 * mode); a rejection names the file, the object and the field, and the other objects still apply.
 * A document with a YAML error is not applied. `--wait` then waits until every object's controller
 * has observed what was applied and says Ready, and an App's rollout is complete (cli/settled.ts),
 * printing a line each time one's state changes.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { API_VERSION, GROUP, findKind, type KindInfo } from '../api/kinds.js';
import { ManifestPathError, findManifestFiles } from '../api/manifest-files.js';
import { parseManifests, type Manifest } from '../api/manifests.js';
import { ApiError, ConflictError, type Key, keyOfObject, type Resource } from '../framework/index.js';
import { isSecretManifest, secretFromManifest } from '../secrets/manifest-secret.js';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect, type Connection } from './connection.js';
import { EXIT, type CliIo } from './io.js';
import { settledOf } from './settled.js';
import { parseDuration } from './duration.js';
import { UsageError } from './usage-error.js';
import { parseVerbArgs } from './verb-args.js';

/** Usage text of the verb. */
export const APPLY_USAGE = `Usage: tend apply -f FILE|DIR|- [-f ...] [options]

Create or update tend objects from YAML (several documents per file; a folder is searched for
*.yaml and *.yml). Prints what happened to each: created, configured or unchanged. v1 Secrets
are applied too: to the cluster with --kubeconfig, else stored by tend with their values sealed.

Options:
  -f, --filename PATH   a file, a folder or - (repeatable)
  -n, --namespace NS    namespace of objects that name none (default: default)
  --wait                wait until every object is Ready with the generation applied and, for an
                        App, its rollout complete; print each change of state; a rollout that
                        fails (ProgressDeadlineExceeded, RolledBack) ends it with exit code 1
  --timeout DURATION    longest wait with --wait, e.g. 90s, 5m (default: 5m)
${CONNECTION_USAGE}
  -h, --help            show this help`;

interface Applied {
  readonly info: KindInfo;
  readonly key: Key;
  readonly label: string;
}

/** Run `tend apply`; returns the exit code. */
export async function runApply(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parse(args);
  if (values.help) {
    io.out(APPLY_USAGE);
    return EXIT.ok;
  }
  const paths = values.filename ?? [];
  if (paths.length === 0) throw new UsageError('apply needs at least one -f FILE|DIR');
  const timeoutMs = values.timeout ? parseDuration('apply', 'timeout', values.timeout) : 300_000;
  const manifests: Manifest[] = [];
  let failed = false;
  for (const path of paths) {
    for (const file of path === '-' ? ['-'] : files(path)) {
      const parsed = parseManifests(file === '-' ? '<stdin>' : file, file === '-' ? io.readStdin() : readFileSync(file, 'utf8'));
      manifests.push(...parsed.manifests);
      for (const e of parsed.errors) {
        io.err(`${e.file}:${e.line}: ${e.message} (this document was not applied)`);
        failed = true;
      }
    }
  }
  const connection = connect(values, env);
  try {
    const { applied, failed: rejected } = await applyManifests(connection, manifests, values.namespace ?? 'default', io);
    if (rejected) failed = true;
    if (values.wait && applied.length > 0) {
      if (!(await waitReady(connection, applied, timeoutMs, io))) failed = true;
    }
  } finally {
    await connection.close();
  }
  return failed ? EXIT.invalid : EXIT.ok;
}

/** Applies each document in order, printing one line per object; `failed` when any was rejected. */
export async function applyManifests(connection: Connection, manifests: readonly Manifest[], namespace: string, io: CliIo): Promise<{ applied: Applied[]; failed: boolean }> {
  const applied: Applied[] = [];
  let failed = false;
  for (const manifest of manifests) {
    const outcome = await applyOne(connection, manifest, namespace);
    if ('skipped' in outcome) io.out(outcome.skipped);
    else if ('done' in outcome) io.out(outcome.done);
    else if ('errors' in outcome) {
      failed = true;
      for (const line of outcome.errors) io.err(line);
    } else {
      io.out(`${outcome.applied.label} ${outcome.verb}`);
      applied.push(outcome.applied);
    }
  }
  return { applied, failed };
}

type Outcome = { skipped: string } | { done: string } | { errors: string[] } | { applied: Applied; verb: 'created' | 'configured' | 'unchanged' };

async function applyOne(connection: Connection, manifest: Manifest, defaultNamespace: string): Promise<Outcome> {
  const where = `${manifest.file}:${manifest.line}`;
  const object = manifest.object as Partial<Resource> | null;
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return { errors: [`${where}: not a Kubernetes object: expected a mapping with apiVersion and kind`] };
  if (isSecretManifest(object)) return applySecret(connection, where, manifest.file, object as Record<string, unknown>, defaultNamespace);
  const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : '';
  if (apiVersion && !apiVersion.startsWith(`${GROUP}/`)) return { skipped: `${where}: skipped ${object.kind ?? '<no kind>'}: ${apiVersion} is not a ${GROUP} API version` };
  const info = typeof object.kind === 'string' ? findKind(object.kind) : undefined;
  const name = object.metadata?.name;
  if (!info || apiVersion !== API_VERSION || typeof name !== 'string' || !name) {
    // Let admission word it exactly as the server does.
    return { errors: [`${where}: ${!info ? `kind: Unsupported value: ${JSON.stringify(object.kind)}` : apiVersion !== API_VERSION ? `apiVersion: Unsupported value: ${JSON.stringify(apiVersion)}: supported values: "${API_VERSION}"` : 'metadata.name: Required value'}`] };
  }
  const namespace = info.scope === 'Namespaced' ? (object.metadata?.namespace ?? defaultNamespace) : undefined;
  const desired = { ...object, metadata: { ...object.metadata, name, ...(namespace ? { namespace } : {}) } } as Resource;
  const objectName = `${info.kind} ${namespace ? `${namespace}/` : ''}${name}`;
  const label = `${info.singular}.${GROUP}/${name}`;
  const applied = { info, key: keyOfObject(desired), label };
  const client = connection.client(info);
  try {
    for (let attempt = 0; ; attempt++) {
      const current = await client.get(applied.key);
      if (!current) {
        await client.create(desired);
        return { applied, verb: 'created' };
      }
      const labels = { ...(current.metadata.labels ?? {}), ...(desired.metadata.labels ?? {}) };
      const annotations = { ...(current.metadata.annotations ?? {}), ...(desired.metadata.annotations ?? {}) };
      const next: Resource = {
        ...current,
        metadata: { ...current.metadata, labels, annotations },
        ...(desired.spec !== undefined ? { spec: desired.spec } : {}),
      };
      if (
        isDeepStrictEqual(next.spec, current.spec) &&
        isDeepStrictEqual(labels, current.metadata.labels ?? {}) &&
        isDeepStrictEqual(annotations, current.metadata.annotations ?? {})
      ) {
        return { applied, verb: 'unchanged' };
      }
      try {
        const updated = await client.update(next);
        // The server may default fields the file leaves out: same object, nothing changed.
        const same =
          updated.metadata.generation === current.metadata.generation &&
          isDeepStrictEqual(updated.metadata.labels ?? {}, current.metadata.labels ?? {}) &&
          isDeepStrictEqual(updated.metadata.annotations ?? {}, current.metadata.annotations ?? {});
        return { applied, verb: same ? 'unchanged' : 'configured' };
      } catch (err) {
        if (err instanceof ConflictError && attempt < 5) continue;
        throw err;
      }
    }
  } catch (err) {
    if (err instanceof ApiError && err.code === 422 && err.causes.length > 0) {
      return { errors: err.causes.map((c) => `${manifest.file}: ${objectName}: ${c.field ? `${c.field.replace(/^\./, '')}: ` : ''}${c.message ?? ''}`) };
    }
    return { errors: [`${manifest.file}: ${objectName}: ${err instanceof Error ? err.message : String(err)}`] };
  }
}

/** A v1 Secret: to the backend's Secrets. Messages name fields and keys, never values. */
async function applySecret(connection: Connection, where: string, file: string, object: Record<string, unknown>, defaultNamespace: string): Promise<Outcome> {
  let secret;
  try {
    secret = secretFromManifest(object, defaultNamespace);
  } catch (err) {
    const name = (object.metadata as { name?: unknown } | undefined)?.name;
    return { errors: [`${where}: Secret ${typeof name === 'string' ? name : ''}: ${(err as Error).message}`] };
  }
  try {
    return { done: `secret/${secret.name} ${await connection.secrets().put(secret)}` };
  } catch (err) {
    return { errors: [`${file}: Secret ${secret.namespace}/${secret.name}: ${err instanceof Error ? err.message : String(err)}`] };
  }
}

/**
 * Polls until every object is settled (cli/settled.ts). On a terminal: one live line per object,
 * redrawn in place; otherwise a line `label: state` each time an object's state changes. False
 * when the time ran out or a rollout failed.
 */
async function waitReady(connection: Connection, applied: readonly Applied[], timeoutMs: number, io: CliIo): Promise<boolean> {
  const started = Date.now();
  const last = new Map<string, string>();
  const pending = new Set(applied);
  const failed = new Set<Applied>();
  let drawn = 0;
  const redraw = () => {
    const terminal = io.terminal!;
    const lines = applied.map((a) => `${pending.has(a) ? '…' : failed.has(a) ? '✗' : '✓'} ${a.label}: ${last.get(a.label) ?? 'waiting'}`);
    terminal.write(`${drawn > 0 ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}\n`).join('')}\x1b[2K${elapsed(started)} ${applied.length - pending.size - failed.size} of ${applied.length} Ready\n`);
    drawn = lines.length + 1;
  };
  while (pending.size > 0) {
    for (const a of [...pending]) {
      const obj = await connection.client(a.info).get(a.key);
      const state = obj ? settledOf(obj) : { settled: false, failed: false, ready: false, reason: 'NotFound', message: 'the object is gone' };
      const line = state.settled && !state.failed ? 'Ready' : `${state.reason}${state.message ? `: ${state.message}` : ''}`;
      if (last.get(a.label) !== line) {
        last.set(a.label, line);
        if (!io.terminal) io.out(`${elapsed(started)} ${a.label}: ${line}`);
      }
      if (state.settled) pending.delete(a);
      if (state.failed) failed.add(a);
    }
    if (io.terminal) redraw();
    if (pending.size === 0) break;
    if (Date.now() - started > timeoutMs) {
      io.err(`tend: timed out after ${Math.round(timeoutMs / 1000)} s; not Ready: ${[...pending].map((a) => `${a.label} (${last.get(a.label)})`).join('; ')}`);
      return false;
    }
    await sleep(500);
  }
  if (failed.size > 0) {
    io.err(`tend: rollout failed: ${[...failed].map((a) => `${a.label} (${last.get(a.label)})`).join('; ')}`);
    return false;
  }
  if (!io.terminal) io.out(`${elapsed(started)} all ${applied.length} Ready`);
  return true;
}

function elapsed(started: number): string {
  return `[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`;
}

function parse(args: readonly string[]) {
  return parseVerbArgs(
    'apply',
    args,
    {
      filename: { type: 'string', short: 'f', multiple: true },
      namespace: { type: 'string', short: 'n' },
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
      ...CONNECTION_OPTIONS,
    },
    false,
  );
}

function files(path: string): string[] {
  try {
    return findManifestFiles(path);
  } catch (err) {
    if (err instanceof ManifestPathError) throw new UsageError(err.message);
    throw err;
  }
}
