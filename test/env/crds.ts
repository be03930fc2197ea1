import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiextensionsV1Api, KubeConfig, loadYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';

/** Creates (or replaces) every CRD in `dir` and waits until the API server serves them all. */
export async function installCrds(kubeconfigPath: string, dir: string, timeoutMs = 30_000): Promise<string[]> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const crds = readdirSync(dir)
    .filter((file) => file.endsWith('.yaml'))
    // loadYaml maps the YAML onto client-node's model (xKubernetesValidations …); a plain parse
    // would have its serializer silently drop every key it does not know by its own name.
    .map((file) => loadYaml<V1CustomResourceDefinition>(readFileSync(join(dir, file), 'utf8')));
  for (const body of crds) {
    const name = body.metadata!.name!;
    try {
      await api.createCustomResourceDefinition({ body });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw new Error(`installing CRD ${name}: ${(err as Error).message}`);
      const current = await api.readCustomResourceDefinition({ name });
      await api.replaceCustomResourceDefinition({
        name,
        body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata!.resourceVersion! } },
      });
    }
  }
  const names = crds.map((crd) => crd.metadata!.name!);
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      if (established) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return names;
}
