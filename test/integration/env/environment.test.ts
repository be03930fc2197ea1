import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { AuthorizationV1Api, CoreV1Api } from '@kubernetes/client-node';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freshNamespace, kubeConfig, testEnv } from '../../env/context.js';
import { startTestEnvironment } from '../../env/environment.js';

/** True when something accepts TCP connections at `url`'s host and port. */
async function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

describe('the shared test environment', () => {
  it('is a full API server: namespaces, Events, RBAC and admission work', async () => {
    const kc = kubeConfig();
    const ns = await freshNamespace('env');
    const core = kc.makeApiClient(CoreV1Api);
    expect((await core.readNamespace({ name: ns })).status?.phase).toBe('Active');

    await core.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { name: 'probe' },
        involvedObject: { kind: 'ConfigMap', name: 'probe', namespace: ns, apiVersion: 'v1' },
        reason: 'Probe',
        message: 'the test environment records Events',
        type: 'Normal',
        source: { component: 'tend-test' },
      },
    });
    expect((await core.listNamespacedEvent({ namespace: ns })).items.map((e) => e.reason)).toEqual(['Probe']);

    // RBAC: a user with no bindings may not list anything.
    const review = await kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
      body: { spec: { user: 'nobody', resourceAttributes: { verb: 'list', resource: 'secrets', namespace: ns } } },
    });
    expect(review.status?.allowed).toBe(false);

    // Admission (NamespaceLifecycle): no objects in a namespace that does not exist.
    await expect(
      core.createNamespacedConfigMap({ namespace: 'no-such-namespace', body: { metadata: { name: 'x' } } }),
    ).rejects.toMatchObject({ code: 404 });
  });

  it('has a PostgreSQL 15 or newer behind DATABASE_URL', async () => {
    const client = new pg.Client({ connectionString: testEnv().databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ server_version_num: string }>('show server_version_num');
      expect(Number(rows[0]!.server_version_num)).toBeGreaterThanOrEqual(150000);
    } finally {
      await client.end();
    }
  });
});

describe('a second test environment', () => {
  it('comes up and goes down cleanly twice in a row', async () => {
    for (let round = 1; round <= 2; round++) {
      const env = await startTestEnvironment();
      const servers = [env.etcd.process, env.apiserver.process, env.postgres.process].filter((p) => p !== undefined);
      const urls = [env.etcd.url, env.apiserver.url, ...(env.postgres.process ? [env.postgres.adminUrl] : [])];
      expect(servers.every((p) => p.running), `round ${round}: all running`).toBe(true);
      const crds = await kubeConfig().makeApiClient(CoreV1Api).listNamespace(); // the shared one still answers
      expect(crds.items.length).toBeGreaterThan(0);
      for (const url of urls) expect(await listening(url), `round ${round}: ${url} listening`).toBe(true);

      await env.stop();
      expect(servers.some((p) => p.running), `round ${round}: a server survived stop()`).toBe(false);
      for (const url of urls) expect(await listening(url), `round ${round}: ${url} still listening`).toBe(false);
      expect(existsSync(env.dir), `round ${round}: ${env.dir} left behind`).toBe(false);
    }
  });
});
