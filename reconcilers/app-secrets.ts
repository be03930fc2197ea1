/**
 * An App's environment from Secrets, planned: which env entries name a Secret key, whether every
 * one exists, and what of them goes into the revision. Pure.
 *
 * The revision includes each referenced Secret's `version` — a digest the Secret backend makes
 * that changes with the Secret's data and tells nothing about it (never a hash of the value,
 * which a guess could be checked against) — so changing a Secret rolls its Apps out like any
 * other change of what an instance runs.
 */
import type { App } from '../api/types/app.js';

/** One env entry that takes its value from a key of a Secret in the App's namespace. */
export interface SecretRef {
  /** The environment variable. */
  readonly env: string;
  /** The Secret's name (in the App's namespace). */
  readonly secret: string;
  readonly key: string;
}

/** A Secret as the controller's cache shows it: its keys and version, never its values. */
export interface ObservedSecret {
  readonly keys: readonly string[];
  /** Changes when the data changes; reveals nothing of it. */
  readonly version: string;
  /** Why the Secret's values cannot be used here (sealed to a key this control plane lacks, …). */
  readonly problem?: string;
}

export interface SecretResolution {
  /** Some reference cannot be satisfied: nothing of this revision may start (no partial environment). */
  readonly blocked?: { readonly reason: 'SecretNotFound'; readonly message: string };
  /** Secret name → version, for the revision. */
  readonly versions: Readonly<Record<string, string>>;
}

/** The App's env entries that reference Secrets, in spec order. */
export function secretRefsOf(app: App): SecretRef[] {
  return (app.spec?.env ?? []).flatMap((e) => (e.valueFrom ? [{ env: e.name, secret: e.valueFrom.secretKeyRef.name, key: e.valueFrom.secretKeyRef.key }] : []));
}

/** How a person reads a reference, in messages, `tend describe` and `tend why`: the value never. */
export function describeSecretRef(namespace: string, ref: { readonly secret: string; readonly key: string }): string {
  return `secret ${namespace}/${ref.secret} key ${ref.key}`;
}

/** Whether every referenced Secret and key exists (`lookup` by Secret name), and their versions. */
export function resolveSecrets(app: App, lookup: (name: string) => ObservedSecret | undefined): SecretResolution {
  const namespace = app.metadata.namespace ?? '';
  const problems: string[] = [];
  const versions: Record<string, string> = {};
  for (const ref of secretRefsOf(app)) {
    const secret = lookup(ref.secret);
    if (!secret) {
      problems.push(`env ${ref.env}: secret ${namespace}/${ref.secret} not found`);
      continue;
    }
    versions[ref.secret] = secret.version;
    if (secret.problem) problems.push(`env ${ref.env}: ${describeSecretRef(namespace, ref)} cannot be used: ${secret.problem}`);
    else if (!secret.keys.includes(ref.key)) {
      const keys = [...secret.keys].sort();
      problems.push(`env ${ref.env}: secret ${namespace}/${ref.secret} has no key ${ref.key} (${keys.length ? `its keys: ${keys.slice(0, 10).join(', ')}${keys.length > 10 ? ', …' : ''}` : 'it has no keys'})`);
    }
  }
  if (problems.length === 0) return { versions };
  const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '');
  return {
    versions,
    blocked: { reason: 'SecretNotFound', message: `${shown}: no instance of this revision starts until it exists (what runs keeps running)` },
  };
}

/** Most bytes of values from Secrets one instance gets (the kernel takes 2 MiB of arguments and environment in all). */
export const SECRET_ENV_MAX_BYTES = 262_144;

/** Why an instance cannot take this environment from Secrets (too large in all), or undefined. */
export function secretEnvTooLarge(env: Readonly<Record<string, string>>): { reason: 'SecretNotFound'; message: string } | undefined {
  let total = 0;
  for (const [name, value] of Object.entries(env)) total += name.length + value.length * 3; // UTF-16 units, ≤ 3 bytes each in UTF-8
  if (total <= SECRET_ENV_MAX_BYTES) return undefined;
  return { reason: 'SecretNotFound', message: `the variables from Secrets take up to ${total} bytes; an instance takes at most ${SECRET_ENV_MAX_BYTES}: no instance of this revision starts` };
}
