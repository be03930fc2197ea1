import { Agent } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

const pooled = new WeakSet<KubeConfig>();

type CreateAgent = (cluster: { server: string; proxyUrl?: string } | null, options: Record<string, unknown>) => unknown;

/**
 * Makes `kubeConfig` reuse connections. @kubernetes/client-node 1.x builds a new https.Agent for
 * every request, so every request pays a new TCP connection and TLS handshake — on both ends.
 * Here one keep-alive agent per API server and user is shared by all requests (and watches).
 * Measured by bench/reconcile.ts on one replica: 79 → see the closing note of issue 4.
 * Idempotent; proxied clusters keep client-node's own agents.
 */
export function poolConnections(kubeConfig: KubeConfig, maxSockets = 64): KubeConfig {
  if (pooled.has(kubeConfig)) return kubeConfig;
  pooled.add(kubeConfig);
  const target = kubeConfig as unknown as { createAgent: CreateAgent };
  const original = target.createAgent.bind(kubeConfig);
  const agents = new Map<string, Agent>();
  target.createAgent = (cluster, options) => {
    if (!cluster || cluster.proxyUrl || !cluster.server.startsWith('https:')) return original(cluster, options);
    const key = `${cluster.server}\u0000${kubeConfig.getCurrentUser()?.name ?? ''}`;
    let agent = agents.get(key);
    // noDelay as Go's net does by default: a small write is sent now, not held for the last one's ACK.
    if (!agent) agents.set(key, (agent = new Agent({ ...options, keepAlive: true, maxSockets, noDelay: true })));
    return agent;
  };
  return kubeConfig;
}
