/** What an integration test gets from the shared environment, and small helpers around it. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';

const run = promisify(execFile);

export interface ProvidedTestEnv {
  readonly kubeconfigPath: string;
  readonly databaseUrl: string;
  readonly adminDatabaseUrl: string;
  /** Empty when the binaries folder had no kubectl. */
  readonly kubectl: string;
  readonly logs: Readonly<Record<string, string>>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testEnv: ProvidedTestEnv;
  }
}

/** The running environment's addresses (only inside the integration project). */
export function testEnv(): ProvidedTestEnv {
  return inject('testEnv');
}

/** An admin KubeConfig for the test API server. */
export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().kubeconfigPath);
  return kc;
}

/** Runs the environment's kubectl with the admin kubeconfig; rejects with kubectl's stderr. */
export async function kubectl(...args: string[]): Promise<string> {
  const env = testEnv();
  if (!env.kubectl) throw new Error('no kubectl in the test binaries folder');
  try {
    const { stdout } = await run(env.kubectl, ['--kubeconfig', env.kubeconfigPath, ...args], { maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    throw new Error(`kubectl ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
}

/** Creates a namespace with a unique name for one test and returns the name. */
export async function freshNamespace(prefix = 'test'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await kubeConfig().makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}
