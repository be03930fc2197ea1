/**
 * The thin layer that commits the scheduler's decisions. The pure scheduler chooses nodes from a
 * snapshot; one transaction then locks the chosen node rows (and the tenant's), re-reads what is
 * placed on them in a fresh statement, and inserts what still fits — so controller replicas
 * placing at once can never push a node past its allocatable memory. What a faster replica took
 * is placed on the next attempt, from a fresh snapshot.
 */
import { randomBytes } from 'node:crypto';
import type { ReconcileContext } from '../framework/reconcile/index.js';
import type { Store, Tx } from '../framework/store/index.js';
import type { InstanceTemplate, PlacementOutcome } from '../reconcilers/app.js';
import { schedule, type Placement, type PlacementRequest, type TenantBudget } from '../reconcilers/placement.js';
import type { BindingNode } from '../reconcilers/volume-binding.js';
import { checkFence, insertInstances, lockNodes, lockTenant, lockedNodesAllocation, schedulerNodes, tenantUsage } from './app-queries.js';

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
  /** The tenant's hard memory quota and soft CPU quota, if any. */
  readonly quota: { readonly memory?: number; readonly cpu?: number };
  /** A node is alive when its agent beat within this long. */
  readonly liveWithinMs: number;
  /** The only node allowed: where the App's volumes live. */
  readonly pinnedNode?: string;
}

const ATTEMPTS = 3;

/** Every node with what it offers and holds; a node whose agent is silent counts as not ready. */
export async function liveNodes(store: Store, liveWithinMs: number): Promise<BindingNode[]> {
  const rows = await store.query<BindingNode & { alive: boolean }>(schedulerNodes, [liveWithinMs]);
  return rows.map(({ alive, ...node }) => ({ ...node, state: alive ? node.state : 'not-ready' }));
}

/** Places up to `count` instances; returns how many were placed and, if not all, why not. */
export async function placeInstances(store: Store, ctx: ReconcileContext, request: PlaceRequest): Promise<PlacementOutcome> {
  let placed = 0;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const nodes = await liveNodes(store, request.liveWithinMs);
    const [usage] = await store.query<{ memory: number; cpu: number }>(tenantUsage, [request.tenant]);
    const budget: TenantBudget = {
      memoryUsed: usage!.memory,
      cpuUsed: usage!.cpu,
      ...(request.quota.memory !== undefined ? { memoryLimit: request.quota.memory } : {}),
      ...(request.quota.cpu !== undefined ? { cpuLimit: request.quota.cpu } : {}),
    };
    const wanted: PlacementRequest = {
      app: request.app, tenant: request.tenant, count: request.count - placed, memory: request.memory, cpu: request.cpu,
      nodeSelector: request.nodeSelector, strategy: request.strategy, existingByNode: request.existingByNode,
      ...(request.pinnedNode ? { pinnedNode: request.pinnedNode } : {}),
    };
    const result = schedule([wanted], nodes, { [request.tenant]: budget });
    for (const warning of result.warnings) ctx.log.warn({ reason: warning.reason }, warning.message);
    const unplaced = result.unplaced[0] ? { reason: result.unplaced[0].reason, message: result.unplaced.map((u) => u.message).join('; ') } : undefined;
    if (result.placements.length === 0) return { placed, ...(unplaced ? { unplaced } : {}) };

    const committed = await store.tx((tx) => commit(tx, ctx, request, result.placements));
    placed += committed.length;
    if (committed.length > 0) ctx.log.info({ placed: committed, revision: request.revision }, 'instances placed');
    if (committed.length === result.placements.length) return { placed, ...(unplaced ? { unplaced } : {}) };
    ctx.log.debug({ attempt, wanted: result.placements.length, committed: committed.length }, 'other replicas took part of the capacity; re-reading nodes');
  }
  return { placed, contended: true };
}

/** In one transaction: fence, locks, fresh re-check, one insert of what still fits. Returns the nodes used. */
async function commit(tx: Tx, ctx: ReconcileContext, request: PlaceRequest, placements: readonly Placement[]): Promise<string[]> {
  const [fence] = await tx.query<{ ok: boolean }>(checkFence, [String(ctx.fence)]);
  if (!fence?.ok) throw new Error('this replica lost its membership; another one owns the app now');
  await tx.query(lockTenant, [request.tenant]);
  let allowed = placements.length;
  if (request.quota.memory !== undefined) {
    const [used] = await tx.query<{ memory: number }>(tenantUsage, [request.tenant]);
    allowed = Math.max(0, Math.floor((request.quota.memory - used!.memory) / request.memory));
  }
  const perNode = new Map<string, number>();
  for (const p of placements) perNode.set(p.node, (perNode.get(p.node) ?? 0) + 1);
  await tx.query(lockNodes, [[...perNode.keys()]]);
  const locked = await tx.query<{ name: string; allocatableMemory: number; allocatableCpu: number; allocatedMemory: number; allocatedCpu: number }>(
    lockedNodesAllocation,
    [[...perNode.keys()]],
  );
  const nodes: string[] = [];
  for (const node of locked) {
    const fitsMemory = Math.floor((node.allocatableMemory - node.allocatedMemory) / request.memory);
    const fitsCpu = request.cpu > 0 ? Math.floor((node.allocatableCpu - node.allocatedCpu) / request.cpu) : Infinity;
    const take = Math.max(0, Math.min(perNode.get(node.name)!, fitsMemory, fitsCpu, allowed - nodes.length));
    for (let i = 0; i < take; i++) nodes.push(node.name);
  }
  if (nodes.length === 0) return nodes;
  const prefix = `${request.app.replace('/', '.')}-${request.revision}-`;
  const ids = nodes.map(() => prefix + randomBytes(3).toString('hex'));
  await tx.query(insertInstances, [ids, request.app, request.tenant, request.revision, nodes, request.memory, request.cpu, JSON.stringify(request.template)]);
  return nodes;
}
