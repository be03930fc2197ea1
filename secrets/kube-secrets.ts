/**
 * Secrets on the cluster backend: the core/v1 Secrets of the App's namespace. The informer's list
 * and watch drop every value as it arrives (the cache holds keys and versions only, however many
 * Secrets the cluster has); values are read with one GET when an instance is placed, and sealed
 * to its node at once.
 *
 * A Secret's version (what goes into its Apps' revisions) is its uid and resourceVersion: it
 * changes with every write of the Secret and tells nothing about the data.
 */
import { CoreV1Api, Watch, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import {
  ApiError, apiError, isAbort, type Key, parseKey, poolConnections, type ResourceClient, toApiError,
  type WatchEvent,
} from '../framework/index.js';
import type { ObservedSecret } from '../reconcilers/app-secrets.js';
import type { SecretInClear } from './manifest-secret.js';
import { envValues, type SecretBackend, type SecretBytes, type SecretValues, type SecretWriter } from './secret-backend.js';
import { SECRET_TYPE, type SecretObject } from './secret-object.js';

/** Secrets listed per page: the first list never holds more than this many Secrets' data at once. */
const PAGE = 250;

/** Cluster Secrets for the controllers (read) and the command line (write). */
export class KubeSecrets implements SecretBackend, SecretWriter {
  readonly client: ResourceClient<SecretObject>;
  private readonly api: CoreV1Api;

  constructor(kubeConfig: KubeConfig, fieldManager = 'tend') {
    poolConnections(kubeConfig);
    this.api = kubeConfig.makeApiClient(CoreV1Api);
    this.client = new KubeSecretClient(this.api, new Watch(kubeConfig), fieldManager);
  }

  observe(secret: SecretObject): ObservedSecret {
    return { keys: Object.keys(secret.data ?? {}), version: `${secret.metadata.uid}/${secret.metadata.resourceVersion}` };
  }

  async values(secret: SecretObject, keys: readonly string[]): Promise<SecretValues> {
    return envValues(secret.metadata.namespace ?? '', secret.metadata.name, await this.bytes(secret, keys));
  }

  async bytes(secret: SecretObject, keys: readonly string[]): Promise<SecretBytes> {
    const { namespace = '', name } = secret.metadata;
    const read = await call(`Secret ${namespace}/${name} get`, () => this.api.readNamespacedSecret({ namespace, name }));
    if (read.metadata?.resourceVersion !== secret.metadata.resourceVersion) return { stale: true };
    const values = new Map<string, Buffer>();
    for (const key of keys) {
      const encoded = read.data?.[key];
      if (encoded !== undefined) values.set(key, Buffer.from(encoded, 'base64'));
    }
    return { values };
  }

  async put(secret: SecretInClear): Promise<'created' | 'configured' | 'unchanged'> {
    const { namespace, name } = secret;
    const data = Object.fromEntries([...secret.values].map(([k, v]) => [k, v.toString('base64')]));
    for (let attempt = 0; ; attempt++) {
      let current: V1Secret | undefined;
      try {
        current = await call(`Secret ${namespace}/${name} get`, () => this.api.readNamespacedSecret({ namespace, name }));
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      }
      const labels = { ...(current?.metadata?.labels ?? {}), ...secret.labels };
      const body: V1Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { ...(current?.metadata ?? {}), name, namespace, labels }, type: secret.type, data };
      try {
        if (!current) {
          await call(`Secret ${namespace}/${name} create`, () => this.api.createNamespacedSecret({ namespace, body }));
          return 'created';
        }
        if (sameData(current.data ?? {}, data) && (current.type ?? 'Opaque') === secret.type && sameData(current.metadata?.labels ?? {}, labels)) return 'unchanged';
        await call(`Secret ${namespace}/${name} update`, () => this.api.replaceNamespacedSecret({ namespace, name, body }));
        return 'configured';
      } catch (err) {
        if (attempt < 5 && err instanceof ApiError && err.code === 409) continue;
        throw err;
      }
    }
  }

  async delete(namespace: string, name: string): Promise<boolean> {
    try {
      await call(`Secret ${namespace}/${name} delete`, () => this.api.deleteNamespacedSecret({ namespace, name }));
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return false;
      throw err;
    }
  }
}

/** list, watch and get of every namespace's Secrets, values blanked; writes go through KubeSecrets. */
class KubeSecretClient implements ResourceClient<SecretObject> {
  readonly type = SECRET_TYPE;

  constructor(
    private readonly api: CoreV1Api,
    private readonly watcher: Watch,
    private readonly fieldManager: string,
  ) {}

  async list(): Promise<{ items: SecretObject[]; resourceVersion: string }> {
    const items: SecretObject[] = [];
    let resourceVersion = '';
    let page: string | undefined;
    do {
      const list = await call('Secret list', () => this.api.listSecretForAllNamespaces({ limit: PAGE, ...(page ? { _continue: page } : {}) }));
      for (const s of list.items) items.push(blanked(s));
      resourceVersion = list.metadata?.resourceVersion ?? resourceVersion;
      page = list.metadata?._continue || undefined;
    } while (page);
    return { items, resourceVersion };
  }

  async watch(resourceVersion: string, onEvent: (event: WatchEvent<SecretObject>) => void, signal: AbortSignal): Promise<void> {
    let failure: unknown;
    return new Promise<void>((resolve, reject) => {
      const started = this.watcher.watch(
        '/api/v1/secrets',
        { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 + Math.floor(Math.random() * 300) },
        (type: string, object: unknown) => {
          if (type === 'ERROR') {
            const status = object as { code?: number; message?: string; reason?: string };
            failure = apiError(`watch secrets: ${status.message ?? 'error'}`, status.code ?? 500, status.reason);
          } else if (type === 'BOOKMARK') {
            const rv = (object as V1Secret).metadata?.resourceVersion;
            if (rv) onEvent({ type: 'BOOKMARK', resourceVersion: rv });
          } else if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
            onEvent({ type, object: blanked(object as V1Secret) });
          }
        },
        (err: unknown) => {
          if (failure) return reject(failure);
          if (err && !signal.aborted && !isAbort(err)) return reject(toApiError('watch secrets', err));
          resolve();
        },
      );
      started.then(
        (controller) => {
          if (signal.aborted) controller.abort();
          else signal.addEventListener('abort', () => controller.abort(), { once: true });
        },
        (err: unknown) => reject(toApiError('watch secrets', err)),
      );
    });
  }

  async get(key: Key): Promise<SecretObject | undefined> {
    const { namespace = '', name } = parseKey(key);
    try {
      return blanked(await call(`Secret ${key} get`, () => this.api.readNamespacedSecret({ namespace, name })));
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  // The controllers only read Secrets; the command line writes through KubeSecrets.put.
  create(): Promise<SecretObject> {
    return Promise.reject(new ApiError(`Secrets are written with KubeSecrets.put (field manager ${this.fieldManager})`, 405));
  }
  update(): Promise<SecretObject> {
    return this.create();
  }
  patchStatus(): Promise<SecretObject> {
    return this.create();
  }
  async delete(key: Key): Promise<void> {
    const { namespace = '', name } = parseKey(key);
    try {
      await call(`Secret ${key} delete`, () => this.api.deleteNamespacedSecret({ namespace, name }));
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
  }
}

/** The Secret with its keys and none of its values. */
function blanked(secret: V1Secret): SecretObject {
  const m = secret.metadata ?? {};
  const keys = new Set([...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})]);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: m.name ?? '',
      ...(m.namespace ? { namespace: m.namespace } : {}),
      ...(m.uid ? { uid: m.uid } : {}),
      ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
      ...(m.creationTimestamp ? { creationTimestamp: new Date(m.creationTimestamp).toISOString() } : {}),
      ...(m.deletionTimestamp ? { deletionTimestamp: new Date(m.deletionTimestamp).toISOString() } : {}),
    },
    ...(secret.type ? { type: secret.type } : {}),
    data: Object.fromEntries([...keys].map((k) => [k, ''])),
  };
}

function sameData(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

async function call<R>(what: string, fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (err) {
    throw toApiError(what, err);
  }
}
