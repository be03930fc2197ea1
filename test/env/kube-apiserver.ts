import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports.js';
import { ServerProcess, restartable, waitForServer, type RestartableServer } from './server-process.js';

/** A running kube-apiserver with an admin kubeconfig; `restart()` keeps port, certs and token. */
export interface KubeApiserver extends RestartableServer {
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly logFile: string;
}

/**
 * Starts the full kube-apiserver (RBAC, default admission plugins, Events, namespaces) against
 * `etcdUrl`. The admin authenticates with a static bearer token in group system:masters; the
 * server makes its own self-signed serving certificate, which the kubeconfig trusts. `extraArgs`
 * go last (an audit log, for one).
 */
export async function startKubeApiserver(binary: string, etcdUrl: string, dir: string, extraArgs: readonly string[] = []): Promise<KubeApiserver> {
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const certDir = join(dir, 'pki');
  mkdirSync(certDir, { recursive: true, mode: 0o700 });

  const token = randomBytes(24).toString('hex');
  const tokenFile = join(certDir, 'tokens.csv');
  writeFileSync(tokenFile, `${token},tend-test-admin,tend-test-admin,"system:masters"\n`, { mode: 0o600 });
  const serviceAccountKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saKeyFile = join(certDir, 'service-account.key');
  const saPubFile = join(certDir, 'service-account.pub');
  writeFileSync(saKeyFile, serviceAccountKey.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(saPubFile, serviceAccountKey.publicKey.export({ type: 'spki', format: 'pem' }));

  const logFile = join(dir, 'kube-apiserver.log');
  const kubeconfigPath = join(dir, 'kubeconfig');
  const launch = async (): Promise<ServerProcess> => {
    const server = ServerProcess.start({
      name: 'kube-apiserver',
      command: binary,
      logFile,
      args: [
        `--etcd-servers=${etcdUrl}`,
        `--cert-dir=${certDir}`,
        `--secure-port=${port}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        '--service-cluster-ip-range=10.0.0.0/24',
        `--service-account-issuer=${url}`,
        `--service-account-key-file=${saPubFile}`,
        `--service-account-signing-key-file=${saKeyFile}`,
        `--token-auth-file=${tokenFile}`,
        '--authorization-mode=RBAC',
        '--allow-privileged=true',
        // A loopback address may not be a Service endpoint; nothing here needs the kubernetes Service.
        '--endpoint-reconciler-type=none',
        '--v=1',
        ...extraArgs,
      ],
    });
    // /readyz needs the RBAC bootstrap and the CRD informers; /livez alone would be too early.
    await waitForServer(server, 'ready /readyz', async () =>
      (await httpsStatus(`${url}/readyz`, token)) === 200 ? true : undefined,
    );
    return server;
  };
  const server = await restartable(launch);

  // The serving certificate and its CA exist once the server has started.
  const ca = readFileSync(join(certDir, 'apiserver.crt'));
  writeFileSync(kubeconfigPath, kubeconfig(url, token, ca), { mode: 0o600 });
  return Object.assign(server, { url, kubeconfigPath, logFile });
}

function kubeconfig(server: string, token: string, ca: Buffer): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'tend-test', cluster: { server, 'certificate-authority-data': ca.toString('base64') } }],
    users: [{ name: 'tend-test-admin', user: { token } }],
    contexts: [{ name: 'tend-test', context: { cluster: 'tend-test', user: 'tend-test-admin', namespace: 'default' } }],
    'current-context': 'tend-test',
  });
}

/** Status code of an HTTPS GET to the not-yet-trusted server (readiness only). */
function httpsStatus(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.setTimeout(2_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
