/**
 * manifests/ as kustomize renders it (the test environment's kubectl), and the containers of its
 * Deployments as commands a test can run: tend's own args with the addresses and paths of a pod
 * replaced by the test's.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './environment.js';

const run = promisify(execFile);

/** One rendered object, as loosely typed as YAML gives it. */
export interface Rendered {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** A Deployment's container, the fields tests look at. */
export interface Container {
  readonly name: string;
  readonly image: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly ports?: readonly { name: string; containerPort: number }[];
  readonly securityContext?: Record<string, unknown>;
  readonly volumeMounts?: readonly { name: string; mountPath: string; readOnly?: boolean }[];
  readonly [field: string]: unknown;
}

/** A Deployment's pod template spec, the fields tests look at. */
export interface PodSpec {
  readonly serviceAccountName?: string;
  readonly securityContext?: Record<string, unknown>;
  readonly initContainers?: readonly Container[];
  readonly containers: readonly Container[];
  readonly volumes?: readonly ({ name: string } & Record<string, unknown>)[];
}

/** `kubectl kustomize DIR` (DIR relative to the repository), parsed; rejects with kubectl's stderr. */
export async function renderManifests(kubectl: string, dir: string): Promise<{ text: string; objects: Rendered[] }> {
  let text: string;
  try {
    text = (await run(kubectl, ['kustomize', join(REPO_ROOT, dir)], { maxBuffer: 32 << 20 })).stdout;
  } catch (err) {
    throw new Error(`kubectl kustomize ${dir}: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
  const objects = parseAllDocuments(text).map((doc) => doc.toJS() as Rendered).filter((o) => o !== null);
  return { text, objects };
}

/** The one object of `kind` named `name`; throws naming what there is. */
export function findObject(objects: readonly Rendered[], kind: string, name: string): Rendered {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

/** The pod template of Deployment `name`. */
export function podSpec(objects: readonly Rendered[], name: string): PodSpec {
  return (findObject(objects, 'Deployment', name) as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
}

/**
 * `args` with each `--flag=value` of `replace` given the new value (appended when absent), so a test
 * runs a container's own command line with its own addresses and paths, every other flag as shipped.
 */
export function withFlags(args: readonly string[], replace: Readonly<Record<string, string>>): string[] {
  const out = args.map((arg) => {
    const flag = arg.split('=')[0]!;
    return flag in replace ? `${flag}=${replace[flag]}` : arg;
  });
  for (const [flag, value] of Object.entries(replace)) if (!args.some((a) => a.split('=')[0] === flag)) out.push(`${flag}=${value}`);
  return out;
}
