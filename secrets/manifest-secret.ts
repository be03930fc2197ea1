/**
 * A v1 Secret from a YAML document (`tend apply`) or from `tend secret create` flags, in clear,
 * for the moment between reading it and sealing or sending it. Checked as the API server would:
 * keys, base64 of `data`, size.
 */
import type { Resource } from '../framework/index.js';
import { SECRET_KEY_PATTERN, SECRET_MAX_BYTES } from './secret-object.js';

/** A Secret's name, namespace, type, labels and values. */
export interface SecretInClear {
  readonly namespace: string;
  readonly name: string;
  readonly type: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly values: ReadonlyMap<string, Buffer>;
}

/** Is this document a v1 Secret? */
export function isSecretManifest(object: Partial<Resource> | null): boolean {
  return object?.apiVersion === 'v1' && object.kind === 'Secret';
}

/** The Secret of a document; throws an Error naming the field (never a value) when it is not a valid one. */
export function secretFromManifest(object: Record<string, unknown>, defaultNamespace: string): SecretInClear {
  const metadata = (object.metadata ?? {}) as { name?: unknown; namespace?: unknown; labels?: unknown };
  const name = metadata.name;
  if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name) || name.length > 253) {
    throw new Error(`metadata.name: Invalid value: ${JSON.stringify(name)}: a lowercase DNS subdomain of at most 253 characters`);
  }
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : defaultNamespace;
  const values = new Map<string, Buffer>();
  const data = object.data ?? {};
  const stringData = object.stringData ?? {};
  if (typeof data !== 'object' || Array.isArray(data) || data === null) throw new Error('data: Invalid value: must be a mapping of key to base64');
  if (typeof stringData !== 'object' || Array.isArray(stringData) || stringData === null) throw new Error('stringData: Invalid value: must be a mapping of key to string');
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    checkKey('data', key);
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value.replace(/\s+/g, '')) || value.replace(/\s+/g, '').length % 4 !== 0) {
      throw new Error(`data[${key}]: Invalid value: not base64`);
    }
    values.set(key, Buffer.from(value, 'base64'));
  }
  // As on the API server: stringData is merged over data.
  for (const [key, value] of Object.entries(stringData as Record<string, unknown>)) {
    checkKey('stringData', key);
    if (typeof value !== 'string') throw new Error(`stringData[${key}]: Invalid value: must be a string`);
    values.set(key, Buffer.from(value, 'utf8'));
  }
  return secretInClear(namespace, name, typeof object.type === 'string' ? object.type : 'Opaque', labelsOf(metadata.labels), values);
}

/** A Secret from its parts, with the API server's limits checked. */
export function secretInClear(namespace: string, name: string, type: string, labels: Readonly<Record<string, string>>, values: ReadonlyMap<string, Buffer>): SecretInClear {
  let bytes = 0;
  for (const [key, value] of values) {
    checkKey('data', key);
    bytes += value.length;
  }
  if (bytes > SECRET_MAX_BYTES) throw new Error(`data: Too long: must have at most ${SECRET_MAX_BYTES} bytes`);
  return { namespace, name, type, labels, values };
}

function checkKey(field: string, key: string): void {
  if (!SECRET_KEY_PATTERN.test(key)) throw new Error(`${field}[${key}]: Invalid value: a valid key must consist of alphanumeric characters, '-', '_' or '.'`);
}

function labelsOf(labels: unknown): Record<string, string> {
  if (typeof labels !== 'object' || labels === null) return {};
  return Object.fromEntries(Object.entries(labels as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
