/**
 * The examples `tend up` applies on its first start, so the example App answers right away.
 * Their commands name files under examples/ relative to the repository; those are made absolute,
 * so the App starts whatever folder `tend up` runs in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { schemasDir } from '../../api/load-schema.js';
import { parseManifests, type Manifest } from '../../api/manifests.js';

/** Every example: Tenant, Node, the hello App with its Route, and the counter App with its Volume. */
export const FIRST_START_EXAMPLES = ['tenant.yaml', 'node.yaml', 'hello.yaml', 'volume.yaml'] as const;

/** The repository (or installed package) folder that holds schemas/ and examples/. */
export function packageRoot(): string {
  return dirname(schemasDir());
}

/** The first-start examples as manifests, with `examples/…` command arguments made absolute. */
export function firstStartExamples(root = packageRoot()): Manifest[] {
  return FIRST_START_EXAMPLES.flatMap((file) => {
    const path = join(root, 'examples', file);
    const { manifests, errors } = parseManifests(path, readFileSync(path, 'utf8'));
    if (errors.length > 0) throw new Error(`${path}: ${errors[0]!.message}`);
    return manifests.map((m) => ({ ...m, object: withAbsoluteCommand(m.object, root) }));
  });
}

function withAbsoluteCommand(object: unknown, root: string): unknown {
  const spec = (object as { spec?: { command?: unknown } }).spec;
  if (!Array.isArray(spec?.command)) return object;
  const command = spec.command.map((arg: unknown) => (typeof arg === 'string' && arg.startsWith('examples/') && existsSync(join(root, arg)) ? join(root, arg) : arg));
  return { ...(object as object), spec: { ...spec, command } };
}
