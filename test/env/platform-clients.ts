import { KubeConfig } from '@kubernetes/client-node';
import { resourceType } from '../../api/resource-types.js';
import type { App } from '../../api/types/app.js';
import type { Node } from '../../api/types/node.js';
import type { Tenant } from '../../api/types/tenant.js';
import { KubeClient } from '../../framework/client/index.js';

/** An admin KubeConfig for `kubeconfigPath`, and clients for the kinds the platform tests drive. */
export function platformClients(kubeconfigPath: string) {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return {
    kubeConfig,
    app: new KubeClient<App>(resourceType('App'), kubeConfig),
    node: new KubeClient<Node>(resourceType('Node'), kubeConfig),
    tenant: new KubeClient<Tenant>(resourceType('Tenant'), kubeConfig),
  };
}
