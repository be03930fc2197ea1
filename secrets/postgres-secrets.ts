/**
 * Secrets in standalone mode: stored by tend in tend.resources (kind Secret, v1, through the same
 * PostgresClient as every other kind: watch, resourceVersion, `tend delete`), each value sealed to
 * the control plane's key — `tend up`'s `.tend/secrets.key`, whose private half is in no table.
 * Writers (`tend secret create`, `tend apply`) need only the published public key; the
 * controllers open values with the private key when they seal them again, to the node that runs
 * each instance.
 *
 * A Secret's version (what goes into its Apps' revisions) is an HMAC of its values under a key
 * derived from the control plane's private key: re-applying the same values is no new revision,
 * and nobody without that key can check a guess of a value against it.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import { ApiError, keyOf, PostgresClient, type Resource, type Store } from '../framework/index.js';
import type { ObservedSecret } from '../reconcilers/app-secrets.js';
import type { SecretInClear } from './manifest-secret.js';
import { currentSecretsKey, publishSecretsKey } from './secrets-key-queries.js';
import { SealError } from './seal-error.js';
import { open, seal, sealingKeyId, type SealingKey } from './seal.js';
import { envValues, type SecretBackend, type SecretBytes, type SecretValues, type SecretWriter } from './secret-backend.js';
import { SECRET_KEY_PATTERN, SECRET_TYPE, secretContext, type SecretObject } from './secret-object.js';

export interface PostgresSecretsOptions {
  /** Direct PostgreSQL URL for LISTEN. */
  readonly listenUrl: string;
  /** The control plane's key, to open stored values; absent for writers, which need only the published public key. */
  readonly key?: SealingKey;
}

/** Sealed values of one Secret take at most this many characters in all (1 MiB of data sealed, with room). */
const MAX_SEALED_CHARS = 2 * 1024 * 1024;

/** Standalone Secrets: read by the controllers, written by the command line. */
export class PostgresSecrets implements SecretBackend, SecretWriter {
  readonly client: PostgresClient<SecretObject>;
  private readonly versionKey: Buffer | undefined;
  /** Observations by uid and resourceVersion: each Secret version is opened once, not at every reconcile. */
  private readonly observed = new Map<string, ObservedSecret>();

  constructor(
    private readonly store: Store,
    private readonly options: PostgresSecretsOptions,
  ) {
    this.client = new PostgresClient<SecretObject>(SECRET_TYPE, store, { listenUrl: options.listenUrl, admit: admitStoredSecret });
    const d = options.key?.privateKey.export({ format: 'jwk' }).d;
    this.versionKey = d ? Buffer.from(hkdfSync('sha256', Buffer.from(d, 'base64url'), Buffer.alloc(0), 'tend secret versions', 32)) : undefined;
  }

  observe(secret: SecretObject): ObservedSecret {
    const memo = `${secret.metadata.uid}/${secret.metadata.resourceVersion}`;
    const known = this.observed.get(memo);
    if (known) return known;
    const data = secret.spec?.data ?? {};
    const keys = Object.keys(data);
    let observation: ObservedSecret;
    // As env values (the checks included): versions stay what they were before bytes() existed.
    const opened = envValues(secret.metadata.namespace ?? '', secret.metadata.name, this.openAll(secret, keys));
    if ('problem' in opened) observation = { keys, version: `unusable/${memo}`, problem: opened.problem };
    else {
      const hmac = createHmac('sha256', this.versionKey!);
      for (const key of [...keys].sort()) hmac.update(`${key.length}:${key}${opened.values.get(key)!.length}:`).update(opened.values.get(key)!);
      observation = { keys, version: hmac.digest('hex').slice(0, 32) };
    }
    if (this.observed.size > 10_000) this.observed.clear();
    this.observed.set(memo, observation);
    return observation;
  }

  async values(secret: SecretObject, keys: readonly string[]): Promise<SecretValues> {
    return envValues(secret.metadata.namespace ?? '', secret.metadata.name, this.openAll(secret, keys));
  }

  async bytes(secret: SecretObject, keys: readonly string[]): Promise<SecretBytes> {
    return this.openAll(secret, keys);
  }

  async put(secret: SecretInClear): Promise<'created' | 'configured' | 'unchanged'> {
    const [row] = await this.store.query<{ publicKey: string }>(currentSecretsKey);
    if (!row) throw new Error('no control plane has published a secrets key in this database yet: start `tend up` (it makes .tend/secrets.key) and try again');
    const data = Object.fromEntries([...secret.values].map(([key, value]) => [key, seal(value, row.publicKey, secretContext(secret.namespace, secret.name, key))]));
    const key = keyOf(secret.namespace, secret.name);
    for (let attempt = 0; ; attempt++) {
      const current = await this.client.get(key);
      const desired: SecretObject = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { ...(current?.metadata ?? {}), name: secret.name, namespace: secret.namespace, labels: { ...(current?.metadata.labels ?? {}), ...secret.labels } },
        spec: { type: secret.type, data },
      };
      try {
        if (!current) {
          await this.client.create(desired);
          return 'created';
        }
        // Sealed afresh every time: the same values look different, so this says configured.
        await this.client.update(desired);
        return 'configured';
      } catch (err) {
        if (attempt < 5 && err instanceof ApiError && err.code === 409) continue;
        throw err;
      }
    }
  }

  async delete(namespace: string, name: string): Promise<boolean> {
    const key = keyOf(namespace, name);
    if (!(await this.client.get(key))) return false;
    await this.client.delete(key);
    return true;
  }

  private openAll(secret: SecretObject, keys: readonly string[]): { values: Map<string, Buffer> } | { problem: string } {
    const { namespace = '', name } = secret.metadata;
    if (!this.options.key) return { problem: 'this control plane has no secrets key to open it with (tend up keeps one in .tend/secrets.key)' };
    const data = secret.spec?.data ?? {};
    const values = new Map<string, Buffer>();
    for (const key of keys) {
      const sealed = data[key];
      if (sealed === undefined) continue;
      let value: Buffer;
      try {
        value = open(sealed, this.options.key, secretContext(namespace, name, key));
      } catch (err) {
        if (!(err instanceof SealError)) throw err;
        return { problem: `key ${key} does not open with this control plane's key ${sealingKeyId(this.options.key.publicKey)}: ${err.message}` };
      }
      values.set(key, value);
    }
    return { values };
  }

  /** Publishes the control plane's public key for writers; call at start. */
  static async publishKey(store: Store, key: SealingKey): Promise<void> {
    await store.query(publishSecretsKey, [sealingKeyId(key.publicKey), key.publicKey]);
  }
}

/**
 * Admission of a stored Secret: valid keys, every value sealed (a value in clear is refused, so
 * no client can store one by mistake), bounded size. Answers like the API server (422).
 */
export function admitStoredSecret<T extends Resource>(obj: T, _old: T | undefined): T {
  const causes: { field: string; message: string }[] = [];
  const spec = (obj as SecretObject).spec as { type?: unknown; data?: unknown } | undefined;
  const data = spec?.data;
  if (typeof spec?.type !== 'string' || spec.type.length > 253) causes.push({ field: 'spec.type', message: 'Required value: a Secret type of at most 253 characters' });
  if (typeof data !== 'object' || data === null || Array.isArray(data)) causes.push({ field: 'spec.data', message: 'Required value: a mapping of key to sealed value' });
  else {
    let chars = 0;
    for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
      if (!SECRET_KEY_PATTERN.test(key)) causes.push({ field: `spec.data[${key}]`, message: "Invalid value: a valid key must consist of alphanumeric characters, '-', '_' or '.'" });
      if (typeof value !== 'string' || !value.startsWith('tend-seal-v1.')) causes.push({ field: `spec.data[${key}]`, message: 'Invalid value: not a sealed value (tend stores Secret values sealed only)' });
      else chars += value.length;
    }
    if (chars > MAX_SEALED_CHARS) causes.push({ field: 'spec.data', message: 'Too long: a Secret holds at most 1 MiB of data' });
  }
  if (causes.length === 0) return obj;
  throw new ApiError(`Secret "${obj.metadata?.name ?? ''}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, 422, 'Invalid', causes);
}
