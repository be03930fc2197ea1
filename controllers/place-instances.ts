/**
 * The thin layer that commits the scheduler's decisions. The pure scheduler chooses nodes from a
 * snapshot; one transaction then locks the chosen node rows (and the tenant's), re-reads what is
 * placed on them, and inserts only if everything still fits — so two controller replicas
 * placing at once can never push a node past its allocatable memory. A lost race is retried
 * with a fresh snapshot.
 */
import { randomBytes } from 'node:crypto';
import type { ReconcileContext } from '../framework/reconcile/index.js';
import type { Store } from '../framework/store/index.js';
import type { InstanceTemplate, PlacementOutcome } from '../reconcilers/app.js';
import { schedule, type NodeView, type PlacementRequest, type TenantBudget } from '../reconcilers/placement.js';
import { checkFence, insertInstance, lockNodes, lockTenant, schedulerNodes, tenantUsage } from './app-queries.js';

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
}

const ATTEMPTS = 3;

/** Places `count` instances; returns how many were placed and, if not all, why not. */
export async function placeInstances(store: Store, ctx: ReconcileContext, request: PlaceRequest): Promise<PlacementOutcome> {
  for (let attempt = 1; ; attempt++) {
    const rows = await store.query<NodeView & { alive: boolean; state: string }>(schedulerNodes, [request.liveWithinMs]);
    const nodes: NodeView[] = rows.map((r) => ({ ...r, state: !r.alive ? 'not-ready' : (r.state as NodeView['state']) }));
    const [usage] = await store.query<{ memory: number; cpu: number }>(tenantUsage, [request.tenant]);
    const budget: TenantBudget = {
      memoryUsed: usage!.memory,
      cpuUsed: usage!.cpu,
      ...(request.quota.memory !== undefined ? { memoryLimit: request.quota.memory } : {}),
      ...(request.quota.cpu !== undefined ? { cpuLimit: request.quota.cpu } : {}),
    };
    const wanted: PlacementRequest = {
      app: request.app, tenant: request.tenant, count: request.count, memory: request.memory, cpu: request.cpu,
      nodeSelector: request.nodeSelector, strategy: request.strategy, existingByNode: request.existingByNode,
    };
    const result = schedule([wanted], nodes, { [request.tenant]: budget });
    const unplaced = result.unplaced[0] ? { reason: result.unplaced[0].reason, message: result.unplaced.map((u) => u.message).join('; ') } : undefined;
    for (const warning of result.warnings) ctx.log.warn({ reason: warning.reason }, warning.message);
    if (result.placements.length === 0) return { placed: 0, ...(unplaced ? { unplaced } : {}) };

    const committed = await store.tx(async (tx) => {
      const [fence] = await tx.query<{ ok: boolean }>(checkFence, [String(ctx.fence)]);
      if (!fence?.ok) throw new Error('this replica lost its membership; another one owns the app now');
      await tx.query(lockTenant, [request.tenant]);
      const perNode = new Map<string, number>();
      for (const p of result.placements) perNode.set(p.node, (perNode.get(p.node) ?? 0) + 1);
      const locked = await tx.query<{ name: string; allocatableMemory: number; allocatableCpu: number; allocatedMemory: number; allocatedCpu: number }>(lockNodes, [[...perNode.keys()]]);
      for (const node of locked) {
        const n = perNode.get(node.name)!;
        if (node.allocatedMemory + n * request.memory > node.allocatableMemory || node.allocatedCpu + n * request.cpu > node.allocatableCpu) return false;
      }
      if (locked.length !== perNode.size) return false; // a node vanished
      if (request.quota.memory !== undefined) {
        const [now] = await tx.query<{ memory: number }>(tenantUsage, [request.tenant]);
        if (now!.memory + result.placements.length * request.memory > request.quota.memory) return false;
      }
      for (const p of result.placements) {
        const id = `${request.app.replace('/', '.')}-${request.revision}-${randomBytes(3).toString('hex')}`;
        await tx.query(insertInstance, [id, request.app, request.tenant, request.revision, p.node, request.memory, request.cpu, JSON.stringify(request.template)]);
      }
      return true;
    });
    if (committed) {
      ctx.log.info({ placed: result.placements.map((p) => p.node), revision: request.revision }, 'instances placed');
      return { placed: result.placements.length, ...(unplaced ? { unplaced } : {}) };
    }
    if (attempt >= ATTEMPTS) throw new Error(`placement of ${request.app} lost ${ATTEMPTS} races for node capacity in a row; retrying later`);
    ctx.log.debug({ attempt }, 'placement raced another replica; re-reading nodes');
  }
}
