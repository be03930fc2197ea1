/**
 * `tend up --kubeconfig`: the same one-process platform, with resources on a Kubernetes API server
 * (a private one here, so no other test's objects are in sight) and an existing PostgreSQL.
 */
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCondition } from '../../../framework/conditions/index.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { startTestEnvironment, type TestEnvironment } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import { send } from '../../env/http-request.js';
import { platformClients } from '../../env/platform-clients.js';
import { freePort } from '../../env/ports.js';
import { waitForServer, type ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';

let env: TestEnvironment;
let up: ServerProcess | undefined;
const folder = mkdtempSync(join(tmpdir(), 'tend-up-kube-'));
chmodSync(folder, 0o755);

beforeAll(async () => {
  env = await startTestEnvironment();
}, 120_000);

afterAll(async () => {
  await up?.stop(30_000);
  await env?.stop();
});

describe('tend up --kubeconfig', () => {
  it('keeps resources on the API server, applies the examples there, and serves them through the edge', async () => {
    const port = await freePort();
    up = startTend('tend up (kubernetes)', ['up', '--kubeconfig', env.apiserver.kubeconfigPath, '--database-url', env.postgres.databaseUrl, '--listen', `127.0.0.1:${port}`, '--https-listen', '127.0.0.1:0', '--metrics-port', '0', '--data-dir', join(folder, '.tend')], join(folder, 'up.log'), folder);
    await waitForServer(up, 'the example App through the edge', async () => {
      const answer = await send(port, 'hello.localhost', '/');
      return answer.status === 200 && answer.body.startsWith('hello from') ? true : undefined;
    }, 120_000);
    expect(up.tail(40)).toMatch(/resources in Kubernetes \(/);

    const clients = platformClients(env.apiserver.kubeconfigPath);
    const app = await eventually(async () => {
      const a = await clients.app.get('default/hello' as Key);
      return findCondition(a?.status?.conditions, 'Ready')?.status === 'True' ? a : undefined;
    }, { what: 'App hello Ready on the API server' });
    expect(app?.metadata.finalizers).toContain('tend.dev/app');
    // Nothing went to PostgreSQL's resource store: the API server holds the objects.
    const client = new pg.Client({ connectionString: env.postgres.databaseUrl });
    await client.connect();
    try {
      expect((await client.query('select count(*)::int as n from tend.resources')).rows[0].n).toBe(0);
      expect((await client.query(`select count(*)::int as n from platform.instances where app = 'default/hello'`)).rows[0].n).toBe(2);
    } finally {
      await client.end();
    }
    expect(await up.stop(30_000)).toMatchObject({ code: 0 });
    up = undefined;
  });
});
