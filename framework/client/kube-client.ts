import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { Key } from '../reconcile/index.js';
import { parseKey } from '../reconcile/index.js';
import { ApiError, apiError } from './errors.js';
import type { Resource, ResourceClient, ResourceType, WatchEvent } from './index.js';
import { poolConnections } from './pooled-kube-config.js';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A ResourceClient for one custom resource kind on a Kubernetes API server. */
export class KubeClient<T extends Resource = Resource> implements ResourceClient<T> {
  private readonly api: CustomObjectsApi;
  private readonly watcher: Watch;

  private readonly labelSelector: string | undefined;

  constructor(
    readonly type: ResourceType,
    kubeConfig: KubeConfig,
    /** Field manager name recorded by the server for our writes. @default 'tend' */
    private readonly fieldManager = 'tend',
    /** Only objects matching this label selector are listed and watched (one control plane per shard). */
    options: { readonly labelSelector?: string } = {},
  ) {
    this.labelSelector = options.labelSelector;
    poolConnections(kubeConfig);
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
    this.watcher = new Watch(kubeConfig);
  }

  async list(): Promise<{ items: T[]; resourceVersion: string }> {
    const { group, version, plural } = this.type;
    const selector = this.labelSelector ? { labelSelector: this.labelSelector } : {};
    const list = (await this.call('list', () => this.api.listClusterCustomObject({ group, version, plural, ...selector }))) as {
      items: T[];
      metadata: { resourceVersion: string };
    };
    return { items: list.items, resourceVersion: list.metadata.resourceVersion };
  }

  async watch(resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const { group, version, plural } = this.type;
    let failure: unknown;
    const finished = new Promise<void>((resolve, reject) => {
      const started = this.watcher.watch(
        `/apis/${group}/${version}/${plural}`,
        {
          resourceVersion,
          allowWatchBookmarks: true,
          ...(this.labelSelector ? { labelSelector: this.labelSelector } : {}),
          // Like client-go's reflector: end each watch after 5–10 min so connections are refreshed.
          timeoutSeconds: 300 + Math.floor(Math.random() * 300),
        },
        (type: string, object: unknown) => {
          if (type === 'ERROR') {
            const status = object as { code?: number; message?: string; reason?: string };
            failure = apiError(`watch ${plural}: ${status.message ?? 'error'}`, status.code ?? 500, status.reason);
          } else if (type === 'BOOKMARK') {
            const rv = (object as Resource).metadata.resourceVersion;
            if (rv) onEvent({ type: 'BOOKMARK', resourceVersion: rv });
          } else if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
            onEvent({ type, object: object as T });
          }
        },
        (err: unknown) => {
          if (failure) return reject(failure);
          if (err && !signal.aborted && !isAbort(err)) return reject(toApiError(`watch ${plural}`, err));
          resolve();
        },
      );
      started.then(
        (controller) => {
          if (signal.aborted) controller.abort();
          else signal.addEventListener('abort', () => controller.abort(), { once: true });
        },
        (err: unknown) => reject(toApiError(`watch ${plural}`, err)),
      );
    });
    return finished;
  }

  async get(key: Key): Promise<T | undefined> {
    try {
      return (await this.call(`get ${key}`, () =>
        this.type.namespaced
          ? this.api.getNamespacedCustomObject({ ...this.where(key) } as never)
          : this.api.getClusterCustomObject({ ...this.where(key) } as never),
      )) as T;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  async create(obj: T): Promise<T> {
    const { group, version, plural } = this.type;
    const namespace = obj.metadata.namespace;
    return (await this.call(`create ${obj.metadata.name}`, () =>
      this.type.namespaced
        ? this.api.createNamespacedCustomObject({ group, version, plural, namespace: namespace!, body: obj, fieldManager: this.fieldManager })
        : this.api.createClusterCustomObject({ group, version, plural, body: obj, fieldManager: this.fieldManager }),
    )) as T;
  }

  async update(obj: T): Promise<T> {
    const key = keyFor(obj);
    const params = { ...this.where(key), body: obj, fieldManager: this.fieldManager };
    return (await this.call(`update ${key}`, () =>
      this.type.namespaced
        ? this.api.replaceNamespacedCustomObject(params as never)
        : this.api.replaceClusterCustomObject(params as never),
    )) as T;
  }

  async patchStatus(key: Key, status: unknown, resourceVersion: string): Promise<T> {
    // A resourceVersion inside a patch is a precondition: a stale one gets 409 Conflict.
    const body = { metadata: { resourceVersion }, status };
    const params = { ...this.where(key), body, fieldManager: this.fieldManager };
    return (await this.call(`patch status of ${key}`, () =>
      this.type.namespaced
        ? this.api.patchNamespacedCustomObjectStatus(params as never, mergePatch)
        : this.api.patchClusterCustomObjectStatus(params as never, mergePatch),
    )) as T;
  }

  async delete(key: Key): Promise<void> {
    try {
      await this.call(`delete ${key}`, () =>
        this.type.namespaced
          ? this.api.deleteNamespacedCustomObject(this.where(key) as never)
          : this.api.deleteClusterCustomObject(this.where(key) as never),
      );
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
  }

  private where(key: Key): { group: string; version: string; plural: string; namespace?: string; name: string } {
    const { group, version, plural } = this.type;
    return { group, version, plural, ...parseKey(key) };
  }

  private async call<R>(what: string, fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (err) {
      throw toApiError(`${this.type.kind} ${what}`, err);
    }
  }
}

function keyFor(obj: Resource): Key {
  const { namespace, name } = obj.metadata;
  return (namespace ? `${namespace}/${name}` : name) as Key;
}

/** An aborted request or watch (client-node and fetch word it differently). */
export function isAbort(err: unknown): boolean {
  return (err as { name?: string }).name === 'AbortError' || (err as { type?: string }).type === 'aborted';
}

/** Turns client-node's exceptions (body as a JSON string) into ApiError with the server's message. */
export function toApiError(what: string, err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ApiException) {
    let status: { message?: string; reason?: string; details?: { causes?: ApiError['causes'] } } = {};
    try {
      status = typeof err.body === 'string' ? JSON.parse(err.body) : (err.body as typeof status);
    } catch {
      // not JSON: keep the raw text below
    }
    const message = status.message ?? String(err.body ?? err.message);
    return apiError(`${what}: ${message}`, err.code, status.reason, status.details?.causes ?? []);
  }
  // A watch the server refuses outright (not 200) comes as a plain Error with the status code: a
  // 410 there must still be a GoneError, or the informer would retry the same version forever.
  const code = (err as { statusCode?: number; code?: unknown }).statusCode;
  return apiError(`${what}: ${(err as Error).message ?? String(err)}`, typeof code === 'number' ? code : 0);
}

