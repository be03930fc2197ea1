/**
 * The thin layer that commits the scheduler's decisions. The pure scheduler chooses nodes from a
 * snapshot; one transaction then locks the chosen node rows (and the tenant's), re-reads what is
 * placed on them in a fresh statement, and inserts what still fits — so controller replicas
 * placing at once can never push a node past its allocatable memory. What a faster replica took
 * is placed on the next attempt, from a fresh snapshot.
 */
import { createHash, randomBytes } from 'node:crypto';
import { fencedTx, type ReconcileContext, type Store, type Tx } from '../framework/index.js';
import type { InstanceTemplate, PlacementOutcome } from '../reconcilers/app.js';
import { PLACEMENT_BATCH, schedule, type Placement, type PlacementRequest, type TenantBudget } from '../reconcilers/placement.js';
import type { BindingNode } from '../reconcilers/volume-binding.js';
import { insertInstances, lockNodes, lockTenant, lockedNodesAllocation, nodeSealingKeys, schedulerNodes, tenantUsage } from './app-queries.js';
import { instanceEnvContext } from '../secrets/instance-env.js';
import { seal } from '../secrets/seal.js';

export interface PlaceRequest {
  readonly app: string;
  readonly tenant: string;
  readonly revision: string;
  readonly count: number;
  readonly memory: number;
  readonly cpu: number;
  readonly template: InstanceTemplate;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly strategy: 'binpack' | 'spread';
  readonly existingByNode: Readonly<Record<string, number>>;
  /** The tenant's hard memory and instance quotas and soft CPU quota, if any. */
  readonly quota: { readonly memory?: number; readonly cpu?: number; readonly instances?: number };
  /** A node is alive when its agent beat within this long. */
  readonly liveWithinMs: number;
  /** Most instances one node takes (the cluster's maxInstancesPerNode). */
  readonly maxInstancesPerNode: number;
  /** The cluster's allowUnisolatedNodes: whether nodes that cannot sandbox instances take them too. */
  readonly allowUnisolatedNodes: boolean;
  /** The only node allowed: where the App's volumes live. */
  readonly pinnedNode?: string;
  /**
   * The environment from Secrets, in clear, in memory only: sealed to each new instance's node
   * (to the key its agent published) in the placing transaction. Only nodes with a key qualify.
   */
  readonly secretEnv?: Readonly<Record<string, string>>;
}

const ATTEMPTS = 3;

/**
 * Every node with what it offers and holds; a node whose agent is silent counts as not ready, and
 * so does, for an App with Secrets, one whose agent has published no sealing key; one whose agent
 * cannot sandbox instances counts as not isolated unless `allowUnisolated`.
 */
export async function liveNodes(store: Store, liveWithinMs: number, options: { readonly allowUnisolated: boolean; readonly needsSealing?: boolean }): Promise<BindingNode[]> {
  const rows = await store.query<BindingNode & { alive: boolean; canSeal: boolean; isolated: boolean }>(schedulerNodes, [liveWithinMs]);
  return rows.map(({ alive, canSeal, isolated, ...node }) => ({
    ...node,
    state: alive && (canSeal || !options.needsSealing) ? node.state : 'not-ready',
    isolated: isolated || options.allowUnisolated,
  }));
}

/**
 * Places up to `count` instances, at most PLACEMENT_BATCH of them in this call; returns how many
 * were placed, whether more are wanted (`more`: call again at once) and, if some do not fit, why.
 */
export async function placeInstances(store: Store, ctx: ReconcileContext, request: PlaceRequest): Promise<PlacementOutcome> {
  const batch = Math.min(request.count, PLACEMENT_BATCH);
  let placed = 0;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const nodes = (await liveNodes(store, request.liveWithinMs, { allowUnisolated: request.allowUnisolatedNodes, needsSealing: request.secretEnv !== undefined })).map((n) => ({ ...n, maxInstances: request.maxInstancesPerNode }));
    const [usage] = await store.query<{ memory: number; cpu: number; instances: number }>(tenantUsage, [request.tenant]);
    const budget: TenantBudget = {
      memoryUsed: usage!.memory,
      cpuUsed: usage!.cpu,
      instancesUsed: usage!.instances,
      ...(request.quota.memory !== undefined ? { memoryLimit: request.quota.memory } : {}),
      ...(request.quota.cpu !== undefined ? { cpuLimit: request.quota.cpu } : {}),
      ...(request.quota.instances !== undefined ? { instancesLimit: request.quota.instances } : {}),
    };
    const wanted: PlacementRequest = {
      app: request.app, tenant: request.tenant, count: batch - placed, memory: request.memory, cpu: request.cpu,
      nodeSelector: request.nodeSelector, strategy: request.strategy, existingByNode: request.existingByNode,
      ...(request.pinnedNode ? { pinnedNode: request.pinnedNode } : {}),
    };
    const result = schedule([wanted], nodes, { [request.tenant]: budget });
    for (const warning of result.warnings) ctx.log.warn({ reason: warning.reason }, warning.message);
    const unplaced = result.unplaced[0] ? { reason: result.unplaced[0].reason, message: result.unplaced.map((u) => u.message).join('; ') } : undefined;
    const outcome = (): PlacementOutcome => ({
      placed,
      ...(unplaced ? { unplaced } : {}),
      // The whole batch went in and the app wants more: the next batch comes on an immediate requeue.
      ...(!unplaced && placed === batch && request.count > batch ? { more: true } : {}),
    });
    if (result.placements.length === 0) return outcome();

    const committed = await fencedTx(store, ctx.fence, (tx) => commit(tx, request, result.placements));
    placed += committed.length;
    if (committed.length > 0) ctx.log.info({ placed: committed, revision: request.revision }, 'instances placed');
    if (committed.length === result.placements.length) return outcome();
    ctx.log.debug({ attempt, wanted: result.placements.length, committed: committed.length }, 'other replicas took part of the capacity; re-reading nodes');
  }
  return { placed, contended: true };
}

/** Longest instance id: a DNS label's length, which every runtime and file system takes. */
export const INSTANCE_ID_MAX = 63;

/**
 * The id of a new instance: `namespace.name-revision-random`. When a long namespace and name would
 * make it longer than INSTANCE_ID_MAX, the app part is cut and ends in a hash of the whole app key,
 * so ids of different apps stay apart and any name gives an id the runtime accepts.
 */
export function instanceId(app: string, revision: string, random: string): string {
  const base = app.replace('/', '.');
  const suffix = `-${revision}-${random}`;
  const room = INSTANCE_ID_MAX - suffix.length;
  if (base.length <= room) return base + suffix;
  const hash = createHash('sha256').update(app).digest('hex').slice(0, 8);
  return `${base.slice(0, room - hash.length - 1).replace(/[.-]+$/, '')}-${hash}${suffix}`;
}

/** In one fenced transaction: locks, fresh re-check, one insert of what still fits. Returns the nodes used. */
async function commit(tx: Tx, request: PlaceRequest, placements: readonly Placement[]): Promise<string[]> {
  await tx.query(lockTenant, [request.tenant]);
  let allowed = placements.length;
  if (request.quota.memory !== undefined || request.quota.instances !== undefined) {
    const [used] = await tx.query<{ memory: number; instances: number }>(tenantUsage, [request.tenant]);
    if (request.quota.memory !== undefined) allowed = Math.min(allowed, Math.floor((request.quota.memory - used!.memory) / request.memory));
    if (request.quota.instances !== undefined) allowed = Math.min(allowed, request.quota.instances - used!.instances);
    allowed = Math.max(0, allowed);
  }
  const perNode = new Map<string, number>();
  for (const p of placements) perNode.set(p.node, (perNode.get(p.node) ?? 0) + 1);
  await tx.query(lockNodes, [[...perNode.keys()]]);
  const locked = await tx.query<{ name: string; allocatableMemory: number; allocatableCpu: number; allocatedMemory: number; allocatedCpu: number; allocatedInstances: number }>(
    lockedNodesAllocation,
    [[...perNode.keys()]],
  );
  // The keys to seal to, read under the node locks; a node without one takes nothing.
  const sealingKeys = new Map<string, string>();
  if (request.secretEnv) for (const k of await tx.query<{ node: string; key: string }>(nodeSealingKeys, [[...perNode.keys()]])) sealingKeys.set(k.node, k.key);
  const nodes: string[] = [];
  for (const node of locked) {
    if (request.secretEnv && !sealingKeys.has(node.name)) continue;
    // memory and cpu are ≥ 1 (schedule() refused anything smaller): both counts are finite.
    const fitsMemory = Math.floor((node.allocatableMemory - node.allocatedMemory) / request.memory);
    const fitsCpu = Math.floor((node.allocatableCpu - node.allocatedCpu) / request.cpu);
    const fitsSlots = request.maxInstancesPerNode - node.allocatedInstances;
    const take = Math.max(0, Math.min(perNode.get(node.name)!, fitsMemory, fitsCpu, fitsSlots, allowed - nodes.length));
    for (let i = 0; i < take; i++) nodes.push(node.name);
  }
  if (nodes.length === 0) return nodes;
  const ids = nodes.map(() => instanceId(request.app, request.revision, randomBytes(3).toString('hex')));
  const sealedTo = nodes.map((n) => (request.secretEnv ? sealingKeys.get(n)! : null));
  const sealed = ids.map((id, i) => (request.secretEnv ? seal(JSON.stringify(request.secretEnv), sealedTo[i]!, instanceEnvContext(id)) : null));
  await tx.query(insertInstances, [ids, request.app, request.tenant, request.revision, nodes, request.memory, request.cpu, JSON.stringify(request.template), sealed, sealedTo]);
  return nodes;
}
