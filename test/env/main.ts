/**
 * `npm run testenv`: starts the test environment
 * and waits, so a person can use kubectl against the same real servers the tests use.
 * `--apply-examples` applies examples/ first. Ctrl-C stops everything.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, startTestEnvironment } from './environment.js';

const { values } = parseArgs({ options: { 'apply-examples': { type: 'boolean', default: false } } });

const started = Date.now();
const env = await startTestEnvironment({ log: (line) => console.error(line) });
const kubectl = env.binaries.kubectl ?? 'kubectl';
if (values['apply-examples']) {
  execFileSync(kubectl, ['--kubeconfig', env.apiserver.kubeconfigPath, 'apply', '-f', join(REPO_ROOT, 'examples')], {
    stdio: 'inherit',
  });
}
console.log(`
tend test environment is up (${((Date.now() - started) / 1000).toFixed(1)} s): etcd, kube-apiserver, PostgreSQL, tend CRDs

  export KUBECONFIG=${env.apiserver.kubeconfigPath}
  export DATABASE_URL=${env.postgres.databaseUrl}
  alias kubectl=${kubectl}

  kubectl apply -f examples/
  kubectl get tend
  kubectl explain apps.tend.dev.spec.resources

logs: ${Object.values(env.logs).join(' ')}
Ctrl-C stops every server and removes ${env.dir}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.error('stopping…');
    void env.stop().then(() => process.exit(0));
  });
}
