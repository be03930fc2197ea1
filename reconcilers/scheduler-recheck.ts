/**
 * The commit side of scheduling: placements chosen by schedule() from a snapshot are re-checked
 * against the nodes and the tenant as they are once locked, in the placing transaction. Pure, with
 * the scheduler's own arithmetic, so the thin layer that commits (controllers/place-instances.ts)
 * holds no sum of its own.
 */
import { fitCount, MAX_SIZE, withinQuota, type NodeView, type Placement, type PlacementRequest, type TenantBudget } from './scheduler.js';

/** A node's allocation as re-read under its row lock, in the transaction that commits placements. */
export type LockedNode = Pick<NodeView, 'name' | 'allocatableMemory' | 'allocatableCpu' | 'allocatedMemory' | 'allocatedCpu' | 'maxInstances' | 'allocatedInstances'>;

/**
 * What still fits of `planned` — one request's placements from schedule() on an earlier snapshot —
 * now that the chosen nodes and the tenant are locked and re-read: the nodes to insert one instance
 * each on, in `locked` order. Same arithmetic as schedule(): never past a node's free memory, CPU
 * or instance slots, nor the tenant's hard memory and instance quotas. A node `eligible` refuses
 * takes nothing. Fewer than planned means another replica took capacity in between.
 */
export function confirmPlacements(
  planned: readonly Placement[],
  locked: readonly LockedNode[],
  request: Pick<PlacementRequest, 'memory' | 'cpu'>,
  budget: TenantBudget,
  eligible: (node: string) => boolean = () => true,
): string[] {
  const byMemory = budget.memoryLimit === undefined ? planned.length : withinQuota(planned.length, request.memory, budget.memoryLimit - budget.memoryUsed);
  const byInstances = budget.instancesLimit === undefined ? planned.length : Math.max(0, Math.min(planned.length, budget.instancesLimit - (budget.instancesUsed ?? 0)));
  const allowed = Math.min(byMemory, byInstances);
  const perNode = new Map<string, number>();
  for (const p of planned) perNode.set(p.node, (perNode.get(p.node) ?? 0) + 1);
  const nodes: string[] = [];
  for (const node of locked) {
    if (!eligible(node.name)) continue;
    const slots = node.maxInstances === undefined ? MAX_SIZE : node.maxInstances - (node.allocatedInstances ?? 0);
    // Sizes are ≥ 1 (schedule() refused anything smaller), so both counts are finite.
    const fits = Math.min(fitCount(node.allocatableMemory - node.allocatedMemory, request.memory), fitCount(node.allocatableCpu - node.allocatedCpu, request.cpu));
    const take = Math.max(0, Math.min(perNode.get(node.name) ?? 0, fits, slots, allowed - nodes.length));
    for (let i = 0; i < take; i++) nodes.push(node.name);
  }
  return nodes;
}
