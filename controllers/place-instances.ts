/**
 * The thin layer that commits the scheduler's decisions, one attempt per call. The pure scheduler
 * chooses nodes from a snapshot; one transaction then locks the chosen node rows (and the
 * tenant's), re-reads what is placed on them in a fresh statement, and inserts what still fits
 * (reconcilers/scheduler-recheck.ts decides what that is) — so controller replicas placing at
 * once can never push a node past its allocatable memory. What a faster replica took is reported
 * as contention; the App's reconcile looks again soon, from a fresh snapshot.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { InstanceTemplate } from '../api/types/instance.js';
import { fencedTx, type ReconcileContext, type Store, type Tx } from '../framework/index.js';
import type { PlacementOutcome } from '../reconcilers/app.js';
import { attemptOutcome, tenantBudget, type PlacementAsk } from '../reconcilers/app-placement.js';
import { schedule, type Placement, type PlacementRequest } from '../reconcilers/scheduler.js';
import { confirmPlacements, type LockedNode } from '../reconcilers/scheduler-recheck.js';
import type { BindingNode } from '../reconcilers/volume-binding.js';
import { insertInstances, lockNodes, lockTenant, lockedNodesAllocation, nodeSealingKeys, schedulerNodes, tenantUsage } from './app-queries.js';
import { instanceEnvContext } from '../secrets/instance-env.js';
import { seal } from '../secrets/seal.js';

/** One 'place' step: the App, its tenant, the revision and template, what the scheduler is asked. */
export interface PlaceRequest extends PlacementAsk {
  readonly app: string;
  readonly tenant: string;
  readonly revision: string;
  readonly template: InstanceTemplate;
  /** A node is alive when its agent beat within this long. */
  readonly liveWithinMs: number;
  /** Most instances one node takes (the cluster's maxInstancesPerNode). */
  readonly maxInstancesPerNode: number;
  /** The cluster's allowUnisolatedNodes: whether nodes that cannot sandbox instances take them too. */
  readonly allowUnisolatedNodes: boolean;
  /**
   * The environment from Secrets, in clear, in memory only: sealed to each new instance's node
   * (to the key its agent published) in the placing transaction. Only nodes with a key qualify.
   */
  readonly secretEnv?: Readonly<Record<string, string>>;
}

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
 * One attempt at placing `request.count` instances (a batch: PLACEMENT_BATCH at most): returns
 * how many were placed, whether more are wanted (`more`), whether other replicas took part of the
 * capacity first (`contended`) and, if some do not fit, why.
 */
export async function placeInstances(store: Store, ctx: ReconcileContext, request: PlaceRequest): Promise<PlacementOutcome> {
  const nodes = (await liveNodes(store, request.liveWithinMs, { allowUnisolated: request.allowUnisolatedNodes, needsSealing: request.secretEnv !== undefined })).map((n) => ({ ...n, maxInstances: request.maxInstancesPerNode }));
  const [usage] = await store.query<{ memory: number; cpu: number; instances: number }>(tenantUsage, [request.tenant]);
  const wanted: PlacementRequest = {
    app: request.app, tenant: request.tenant, count: request.count, memory: request.memory, cpu: request.cpu,
    nodeSelector: request.nodeSelector, strategy: request.strategy, existingByNode: request.existingByNode,
    ...(request.pinnedNode ? { pinnedNode: request.pinnedNode } : {}),
  };
  const result = schedule([wanted], nodes, { [request.tenant]: tenantBudget(request.quota, usage!) });
  for (const warning of result.warnings) ctx.log.warn({ reason: warning.reason }, warning.message);
  if (result.placements.length === 0) return attemptOutcome(result, 0, request);

  const committed = await fencedTx(store, ctx.fence, (tx) => commit(tx, request, result.placements));
  if (committed.length > 0) ctx.log.info({ placed: committed, revision: request.revision }, 'instances placed');
  if (committed.length < result.placements.length) ctx.log.debug({ wanted: result.placements.length, committed: committed.length }, 'other replicas took part of the capacity; looking again soon');
  return attemptOutcome(result, committed.length, request);
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
  // The hard quotas are re-read under the tenant's lock; without one nothing of the tenant's is needed.
  const hardQuota = request.quota.memory !== undefined || request.quota.instances !== undefined;
  const [used] = hardQuota ? await tx.query<{ memory: number; cpu: number; instances: number }>(tenantUsage, [request.tenant]) : [{ memory: 0, cpu: 0, instances: 0 }];
  const chosen = [...new Set(placements.map((p) => p.node))];
  await tx.query(lockNodes, [chosen]);
  const locked = (await tx.query<LockedNode>(lockedNodesAllocation, [chosen])).map((n) => ({ ...n, maxInstances: request.maxInstancesPerNode }));
  // The keys to seal to, read under the node locks; a node without one takes nothing.
  const sealingKeys = new Map<string, string>();
  if (request.secretEnv) for (const k of await tx.query<{ node: string; key: string }>(nodeSealingKeys, [chosen])) sealingKeys.set(k.node, k.key);
  const nodes = confirmPlacements(placements, locked, request, tenantBudget(request.quota, used!), (node) => !request.secretEnv || sealingKeys.has(node));
  if (nodes.length === 0) return nodes;
  const ids = nodes.map(() => instanceId(request.app, request.revision, randomBytes(3).toString('hex')));
  const sealedTo = nodes.map((n) => (request.secretEnv ? sealingKeys.get(n)! : null));
  const sealed = ids.map((id, i) => (request.secretEnv ? seal(JSON.stringify(request.secretEnv), sealedTo[i]!, instanceEnvContext(id)) : null));
  await tx.query(insertInstances, [ids, request.app, request.tenant, request.revision, nodes, request.memory, request.cpu, JSON.stringify(request.template), sealed, sealedTo]);
  return nodes;
}
