/**
 * The App controller's side of secrets delivery: the shared informer of Secrets (keys and
 * versions, no values), which Apps reference which Secret (an index, so a changed Secret wakes
 * exactly its Apps), and reading the values of one App's references at the moment its instances
 * are placed — in memory only, sealed to each instance's node by place-instances.ts.
 */
import type { App } from '../api/types/app.js';
import { type Informer, type Key, keyOf, keyOfObject, type Source, watches } from '../framework/index.js';
import { describeSecretRef, resolveSecrets, secretEnvTooLarge, secretRefsOf, type SecretResolution } from '../reconcilers/app-secrets.js';
import type { SecretObject } from '../secrets/secret-object.js';
import type { PlatformDeps } from './platform-deps.js';

/** Index of Apps by each Secret their env references (`namespace/name`). */
export const SECRET_REFS = 'secretRefs';

/** The Secrets an App's env references, as keys. */
export function referencedSecrets(app: App): Key[] {
  return [...new Set(secretRefsOf(app).map((r) => keyOf(app.metadata.namespace, r.secret)))];
}

/** What the App controller asks about Secrets. */
export interface AppSecrets {
  /** Wakes the Apps that reference a Secret when it appears, changes or goes. */
  readonly source: Source;
  /** Whether every reference of `app` resolves, and the Secrets' versions (for the revision). */
  resolve(app: App): SecretResolution;
  /**
   * The environment from Secrets (variable → value) to seal for new instances; `stale` when a
   * Secret changed since the cache saw it (try again shortly), `blocked` when a value cannot be used.
   */
  envOf(app: App): Promise<{ env: Record<string, string> } | { stale: true } | { blocked: { reason: 'SecretNotFound'; message: string } }>;
}

/** The App controller's Secrets, over the shared Apps informer (which gets the SECRET_REFS index). */
export function appSecrets(deps: PlatformDeps, apps: Informer<App>): AppSecrets {
  apps.cache.addIndexer(SECRET_REFS, referencedSecrets);
  const secrets: Informer<SecretObject> = deps.manager.informer(deps.secrets.client);
  const cached = (namespace: string | undefined, name: string) => secrets.cache.get(keyOf(namespace, name));
  return {
    source: watches(secrets, (s) => apps.cache.byIndex(SECRET_REFS, keyOfObject(s)).map(keyOfObject)),
    resolve(app) {
      return resolveSecrets(app, (name) => {
        const secret = cached(app.metadata.namespace, name);
        return secret ? deps.secrets.observe(secret) : undefined;
      });
    },
    async envOf(app) {
      const namespace = app.metadata.namespace ?? '';
      const refs = secretRefsOf(app);
      const env: Record<string, string> = {};
      for (const name of new Set(refs.map((r) => r.secret))) {
        const secret = cached(namespace, name);
        const mine = refs.filter((r) => r.secret === name);
        if (!secret) return { stale: true };
        const read = await deps.secrets.values(secret, mine.map((r) => r.key));
        if ('stale' in read) return read;
        if ('problem' in read) return { blocked: { reason: 'SecretNotFound', message: `${read.problem}: no instance of this revision starts until it is fixed` } };
        for (const ref of mine) {
          const value = read.values.get(ref.key);
          if (value === undefined) return { blocked: { reason: 'SecretNotFound', message: `env ${ref.env}: ${describeSecretRef(namespace, ref)} not found` } };
          env[ref.env] = value;
        }
      }
      const tooLarge = secretEnvTooLarge(env);
      return tooLarge ? { blocked: tooLarge } : { env };
    },
  };
}
