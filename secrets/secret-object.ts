/**
 * A Secret as tend handles it: Kubernetes' core/v1 Secret on the cluster backend, and in
 * standalone mode an object of the same name and kind kept in tend.resources whose values are
 * sealed to the control plane (`spec.data`: key → sealed value). Neither form ever holds a value
 * in clear once it is past the code that reads it for sealing.
 */
import type { Resource, ResourceType } from '../framework/index.js';

/** core/v1 secrets, in either backend. */
export const SECRET_TYPE: ResourceType = { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true };

/**
 * What the Secret clients hand out. On Kubernetes, `data` keeps the keys with their values blanked
 * (the informer caches no value); in standalone mode `spec.data` holds sealed values.
 */
export interface SecretObject extends Resource<StoredSecretSpec> {
  type?: string;
  data?: Record<string, string>;
}

/** The stored form in standalone mode. */
export interface StoredSecretSpec {
  readonly type: string;
  /** key → sealed value (secrets/seal.ts), sealed to a control-plane key for `secretContext`. */
  readonly data: Readonly<Record<string, string>>;
}

/** The sealing context of one value of a stored Secret: a value moved to another Secret or key does not open. */
export function secretContext(namespace: string, name: string, key: string): string {
  return `secret ${namespace}/${name} key ${key}`;
}

/** Data keys: what Kubernetes allows (`[-._a-zA-Z0-9]+`, at most 253 characters). */
export const SECRET_KEY_PATTERN = /^[-._a-zA-Z0-9]{1,253}$/;

/** Most bytes of data in one Secret, as on Kubernetes. */
export const SECRET_MAX_BYTES = 1024 * 1024;
