/**
 * The Node controller: keeps platform.nodes (what the scheduler reads) in line with each Node's
 * spec and its agent's reports, and reports liveness — NodeLost after missed heartbeats, judged
 * from PostgreSQL without the agent ever writing the API server.
 */
import type { Node } from '../api/types/node.js';
import {
  type Controller, done, keyOf, postgresSource, type ReconcileContext, requeueAfter, type Result, withFinalizer,
  writeStatus, type PostgresListener,
} from '../framework/index.js';
import { planNode, type ClusterConfig, type NodeObserved, type NodePlan, type NodeRow } from '../reconcilers/node.js';
import { deleteNodeRow, forgetNodeIdentity, revokeNodeIdentity, selectNodeAgent, selectNodeAllocation, selectNodeRow, selectNodeVolumes, upsertNodeRow } from './node-queries.js';
import { platformController, type PlatformDeps } from './platform-deps.js';

/** Keeps a Node until nothing is placed on it and its row is gone. */
export const NODE_FINALIZER = 'tend.dev/node';

/** Builds the Node controller. */
export function nodeController(deps: PlatformDeps & { readonly cluster: ClusterConfig; readonly listener: PostgresListener }): Controller<Node> {
  const { manager, clients, store, cluster } = deps;
  const nodes = manager.informer(clients.node);

  async function observe(node: Node): Promise<NodeObserved> {
    const name = node.metadata.name;
    const [[row], [agent], [allocated], volumes] = await Promise.all([
      store.query<NodeRow>(selectNodeRow, [name]),
      store.query<{ heartbeat_at: Date; cpu: number; memory: number; disk: number; watched_since: Date; isolated: boolean; isolation_message: string }>(selectNodeAgent, [name]),
      store.query<{ memory: number; cpu: number; instances: number }>(selectNodeAllocation, [name]),
      store.query<{ key: string }>(selectNodeVolumes, [name]),
    ]);
    return {
      row,
      agent: agent
        ? {
            heartbeatAt: agent.heartbeat_at, watchedSince: agent.watched_since, capacity: { cpu: agent.cpu, memory: agent.memory, disk: agent.disk },
            isolation: { isolated: agent.isolated, message: agent.isolation_message },
          }
        : undefined,
      allocated: allocated!,
      volumes: volumes.map((v) => v.key),
    };
  }

  async function execute(ctx: ReconcileContext, node: Node, plan: NodePlan): Promise<void> {
    const fence = String(ctx.fence);
    if (plan.upsert) {
      const r = plan.upsert;
      await store.query(upsertNodeRow, [node.metadata.name, node.metadata.uid, r.generation, r.address, JSON.stringify(r.labels), r.state, r.allocatableMemory, r.allocatableCpu, fence, r.lostSince, r.drainDeadlineSeconds, r.disk]);
      ctx.log.info({ state: r.state, allocatableMemory: r.allocatableMemory, allocatableCpu: r.allocatableCpu, lostSince: r.lostSince }, 'node row written');
    }
    if (plan.revokeIdentity) {
      const [row] = await store.query<{ revoked: boolean }>(revokeNodeIdentity, [node.metadata.name]);
      if (row?.revoked) ctx.log.info('node decommissioned: its agent credentials are revoked');
    }
    await writeStatus(clients.node, node, plan.status);
  }

  async function reconcile(ctx: ReconcileContext, node: Node): Promise<Result> {
    return withFinalizer(clients.node, node, NODE_FINALIZER, {
      apply: async (current) => {
        const plan = planNode(current, await observe(current), cluster, { now: ctx.now() });
        await execute(ctx, current, plan);
        return plan.requeueAfterMs !== undefined ? requeueAfter(plan.requeueAfterMs) : done();
      },
      cleanup: async (current) => {
        const plan = planNode(current, await observe(current), cluster, { now: ctx.now() });
        if (!plan.release) {
          await writeStatus(clients.node, current, plan.status);
          return done(); // an instance or volume leaving notifies tend_nodes, which brings us back
        }
        await store.query(forgetNodeIdentity, [current.metadata.name]);
        await store.query(deleteNodeRow, [current.metadata.name, current.metadata.uid, String(ctx.fence)]);
        return 'removed';
      },
    });
  }

  return platformController(deps, 'node', nodes, reconcile, [
    // tend_nodes: an agent appearing or back, a volume or an instance arriving or leaving (the
    // triggers of migrations 000004, 000008, 000015). Not tend_instances: agents' reports (a crash
    // loop's every restart) change nothing a Node shows.
    postgresSource({
      name: 'node-agents',
      listener: deps.listener,
      channel: 'tend_nodes',
      // Notifications sent while LISTEN was reconnecting are lost: look at every object again.
      resync: async () => nodes.cache.keys(),
      map: (node) => [keyOf(undefined, node)],
      logger: deps.logger,
    }),
  ]);
}
