/**
 * vitest globalSetup of the integration project: one test environment for the whole run,
 * handed to test files through `inject()` (see ./context.ts).
 */
import type { TestProject } from 'vitest/node';
import { startTestEnvironment } from './environment.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const env = await startTestEnvironment({ log: (line) => console.log(`[test env] ${line}`) });
  console.log(`[test env] etcd, kube-apiserver and PostgreSQL up in ${((Date.now() - started) / 1000).toFixed(1)} s (${env.binaries.source})`);
  project.provide('testEnv', {
    kubeconfigPath: env.apiserver.kubeconfigPath,
    databaseUrl: env.postgres.databaseUrl,
    adminDatabaseUrl: env.postgres.adminUrl,
    kubectl: env.binaries.kubectl ?? '',
    logs: env.logs,
  });
  return async () => {
    await env.stop();
  };
}
