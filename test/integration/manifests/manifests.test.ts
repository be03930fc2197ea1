import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { AuthorizationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { resourceType } from '../../../api/resource-types.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { KubeClient } from '../../../framework/client/index.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { freshNamespace, kubeConfig, kubectl } from '../../env/context.js';
import { REPO_ROOT } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import { testShard } from '../../env/shard.js';

const manifests = join(REPO_ROOT, 'manifests');
const databases = new FreshDatabases('manifests');
const shard = testShard('manifests');
const SA = 'system:serviceaccount:tend-system:tend-controller';

afterAll(() => databases.dropAll());

/** A kubeconfig that authenticates as the controllers' service account. */
async function serviceAccountConfig(): Promise<KubeConfig> {
  const admin = kubeConfig();
  const { status } = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: 'tend-controller',
    namespace: 'tend-system',
    body: { spec: { expirationSeconds: 3600, audiences: [] } },
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [admin.getCurrentCluster()!],
    users: [{ name: 'tend-controller', token: status!.token }],
    contexts: [{ name: 'sa', cluster: admin.getCurrentCluster()!.name, user: 'tend-controller' }],
    currentContext: 'sa',
  });
  return kc;
}

describe('manifests/ (deploying tend itself)', () => {
  it('are accepted by the API server', async () => {
    await kubectl('apply', '-f', join(manifests, 'namespace.yaml'));
    const out = await kubectl('apply', '--server-side', '--dry-run=server', '-f', manifests);
    for (const kind of ['serviceaccount', 'clusterrole', 'clusterrolebinding', 'deployment', 'poddisruptionbudget', 'service']) {
      expect(out).toMatch(new RegExp(`^${kind}[./]`, 'm'));
    }
  });

  it('grant the controllers what they need and nothing more: a tenant converges under the service account', async () => {
    await kubectl('apply', '-f', join(manifests, 'namespace.yaml'), '-f', join(manifests, 'rbac.yaml'));
    const auth = kubeConfig().makeApiClient(AuthorizationV1Api);
    const can = async (verb: string, resource: string, group = '') =>
      (await auth.createSubjectAccessReview({ body: { spec: { user: SA, groups: ['system:serviceaccounts'], resourceAttributes: { verb, resource, group } } } })).status?.allowed;
    // Secrets are read (App env from Secrets, sealed to nodes), never written.
    expect(await can('watch', 'secrets')).toBe(true);
    expect(await can('create', 'secrets')).toBe(false);
    expect(await can('update', 'secrets')).toBe(false);
    expect(await can('list', 'pods')).toBe(false);
    expect(await can('delete', 'tenants', 'tend.dev')).toBe(false);
    expect(await can('patch', 'tenants/status', 'tend.dev')).toBe(true);

    const kc = await serviceAccountConfig();
    const logger = createLogger({ level: 'silent' });
    const store = new Store({ connectionString: await databases.create(), logger });
    await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
    const stop = new AbortController();
    const running = buildPlatform({ kubeConfig: kc, store, logger, replica: 'sa', membership: false, selector: shard.selector }).start(stop.signal);
    try {
      const tenants = new KubeClient<Tenant>(resourceType('Tenant'), kubeConfig());
      const name = `rbac-${randomBytes(3).toString('hex')}`;
      await tenants.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name, labels: shard.labels }, spec: { namespaces: [await freshNamespace('rbac')] } });
      await eventually(async () => (findCondition((await tenants.get(name as Key))?.status?.conditions, 'Ready')?.status === 'True' ? true : undefined), {
        what: 'tenant Ready under the service account',
      });
    } finally {
      stop.abort();
      await running;
    }
  });
});
