/**
 * Where Secrets come from, behind one interface so the App controller reads them the same way on
 * either backend: `kube-secrets.ts` (core/v1 Secrets of the cluster) and `postgres-secrets.ts`
 * (Secrets tend stores, sealed, in standalone mode).
 */
import type { ResourceClient } from '../framework/index.js';
import type { ObservedSecret } from '../reconcilers/app-secrets.js';
import type { SecretInClear } from './manifest-secret.js';
import type { SecretObject } from './secret-object.js';

/** The values of some keys, or why there are none. */
export type SecretValues =
  | { readonly values: ReadonlyMap<string, string> }
  /** Cannot be used (a NUL byte, sealed to another key …); the message names keys, never values. */
  | { readonly problem: string }
  /** The Secret changed since it was cached: look again once the cache has caught up. */
  | { readonly stale: true };

/** How the controllers read Secrets. */
export interface SecretBackend {
  /** list and watch for the informer: what it returns never holds a value in clear. */
  readonly client: ResourceClient<SecretObject>;
  /** The keys and version of a cached Secret. */
  observe(secret: SecretObject): ObservedSecret;
  /** The values of `keys` of the Secret `secret` is a cached copy of, for sealing them to nodes. */
  values(secret: SecretObject, keys: readonly string[]): Promise<SecretValues>;
  /** The bytes of `keys` as stored (a TLS certificate and key), with no env-variable checks; absent keys are left out. */
  bytes(secret: SecretObject, keys: readonly string[]): Promise<SecretBytes>;
}

/** The bytes of some keys, or why there are none (as SecretValues). */
export type SecretBytes =
  | { readonly values: ReadonlyMap<string, Buffer> }
  | { readonly problem: string }
  | { readonly stale: true };

/** The env-variable values of `read`'s keys, or the first problem. */
export function envValues(namespace: string, name: string, read: Exclude<SecretBytes, { stale: true }>): Exclude<SecretValues, { stale: true }>;
export function envValues(namespace: string, name: string, read: SecretBytes): SecretValues;
export function envValues(namespace: string, name: string, read: SecretBytes): SecretValues {
  if (!('values' in read)) return read;
  const values = new Map<string, string>();
  for (const [key, bytes] of read.values) {
    const env = envValue(namespace, name, key, bytes);
    if ('problem' in env) return env;
    values.set(key, env.value);
  }
  return { values };
}

/** How the command line writes Secrets. */
export interface SecretWriter {
  put(secret: SecretInClear): Promise<'created' | 'configured' | 'unchanged'>;
  /** False when there was none. */
  delete(namespace: string, name: string): Promise<boolean>;
}

/** Longest value of one variable from a Secret: as for spec.env values (the kernel takes at most 128 KiB per string). */
export const ENV_VALUE_MAX_BYTES = 32_768;

/** A value as an environment variable carries it, or why it cannot. */
export function envValue(namespace: string, name: string, key: string, value: Buffer): { value: string } | { problem: string } {
  if (value.includes(0)) return { problem: `secret ${namespace}/${name} key ${key} holds a NUL byte, which an environment variable cannot carry` };
  if (value.length > ENV_VALUE_MAX_BYTES) return { problem: `secret ${namespace}/${name} key ${key} holds ${value.length} bytes; a variable from a Secret holds at most ${ENV_VALUE_MAX_BYTES}` };
  return { value: value.toString('utf8') };
}
