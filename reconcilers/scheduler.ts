/**
 * The scheduler: which node each new App instance runs on. A pure function of the requests, the
 * nodes and the tenants' budgets — no clock, no randomness, no I/O — so the controller that calls
 * it can replay, log and explain every decision.
 *
 * Design notes:
 * - Memory is hard: a node takes an instance only when its free memory covers it, and so does the
 *   tenant's memory quota. CPU is oversubscribed: `allocatableCpu` already includes the cluster's
 *   `cpuOvercommitRatio` (the caller computes it, see reconcilers/node.ts), and a tenant's CPU
 *   quota only warns.
 * - Requests are handled in input order. Each node's free memory and CPU live in typed arrays that
 *   shrink as instances land, so a batch of any size never overbooks a node.
 * - binpack (default) fills the busiest fitting node (least free memory, then name), keeping whole
 *   nodes empty for large instances and for draining. Once chosen, a node stays the busiest
 *   fitting one as it fills, so binpack places as many instances there as fit in one step.
 * - spread places one instance at a time on the fitting node with the fewest instances of the app
 *   (those already there plus those placed in this call), then most free memory, then name.
 * - Cost: O(nodes) per request to filter, O(nodes) per spread instance or per filled binpack node;
 *   `npm run bench:scheduler` measures 100 nodes × 10,000 instances. The App controller asks for
 *   at most PLACEMENT_BATCH instances per pass and comes back at once for the rest, so no number
 *   in a spec (replicas: 2147483647) makes one reconcile long.
 * - A node takes at most `maxInstances` (the cluster's maxInstancesPerNode, like the kubelet's
 *   maxPods): with the smallest sizes the schema admits, memory and CPU alone would let one node
 *   hold hundreds of thousands of instances, and its agent and every App's observe step pay for each.
 * - Sizes are whole bytes and millicores of at least 1, and finite: a request that rounds to 0
 *   would fit any node without end, so it is refused (InvalidResources) rather than placed.
 */
import {
  cpuQuotaMessage,
  instanceQuotaMessage,
  memoryQuotaMessage,
  unschedulableMessage,
  type Rejection,
  type Shortfall,
} from './scheduler-message.js';

/**
 * Most instances one App places in one reconcile; the rest come on the next pass, queued at once.
 * 100 commits in one transaction of a few ms; bench/hostile.ts shows other tenants unaffected.
 */
export const PLACEMENT_BATCH = 100;

/** Largest size the scheduler accepts: sums stay exact in float64 (8Pi bytes, 9e15 millicores). */
export const MAX_SIZE = Number.MAX_SAFE_INTEGER;

/**
 * Why an instance of `memory` bytes and `cpu` millicores cannot be placed at all, if it cannot:
 * a size rounding to 0 (it would fit without end) or beyond any machine. Names the spec field.
 */
export function sizeProblem(memory: number, cpu: number): string | undefined {
  const check = (field: string, value: number, unit: string, least: string) => {
    if (Number.isNaN(value)) return `${field} is not a number`;
    if (value < 1) return `${field} rounds to 0 ${unit}: an instance needs at least ${least}`;
    if (!(value <= MAX_SIZE)) return `${field} is larger than any node could offer`;
    return undefined;
  };
  return check('spec.resources.memory', memory, 'bytes', '1 byte (1Mi or more in practice)') ?? check('spec.resources.cpu', cpu, 'millicores', '1m');
}

export type NodeCondition = 'ready' | 'cordoned' | 'draining' | 'not-ready' | 'decommissioned';

/** A node as the scheduler sees it: what it offers and what is already placed on it. */
export interface NodeView {
  readonly name: string;
  /** Only `ready` nodes take new instances. */
  readonly state: NodeCondition;
  readonly labels: Readonly<Record<string, string>>;
  /** Bytes: physical − reserved − safety buffer. */
  readonly allocatableMemory: number;
  /** Millicores: capacity × cpuOvercommitRatio − reserved. */
  readonly allocatableCpu: number;
  /** Bytes and millicores of the instances already placed there. */
  readonly allocatedMemory: number;
  readonly allocatedCpu: number;
  /**
   * False: the node's agent cannot sandbox instances (Node Isolated=False) and the cluster does not
   * allow unisolated nodes, so nothing new goes there. @default true
   */
  readonly isolated?: boolean;
  /** Most instances the node runs (the cluster's maxInstancesPerNode), and how many it has. @default unlimited, 0 */
  readonly maxInstances?: number;
  readonly allocatedInstances?: number;
}

export type PlacementStrategy = 'binpack' | 'spread';

/** Instances of one App to place now, all the same size. */
export interface PlacementRequest {
  /** `namespace/name`. */
  readonly app: string;
  readonly tenant: string;
  /** Instances to place now. */
  readonly count: number;
  /** Per instance: bytes and millicores. */
  readonly memory: number;
  readonly cpu: number;
  /** Labels a node must carry, all of them. @default {} */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** @default 'binpack' */
  readonly strategy?: PlacementStrategy;
  /** This app's instances already on each node, by node name; spread balances against them. @default {} */
  readonly existingByNode?: Readonly<Record<string, number>>;
  /** The only node allowed: a stateful app must run where its volume lives. */
  readonly pinnedNode?: string;
  /** Nodes not to use, e.g. the node an instance is being replaced from. */
  readonly avoidNodes?: readonly string[];
}

/** A tenant's quota and current usage; an absent limit means unlimited. */
export interface TenantBudget {
  /** Bytes; hard. */
  readonly memoryLimit?: number;
  readonly memoryUsed: number;
  /** Millicores; soft (exceeding it only warns). */
  readonly cpuLimit?: number;
  readonly cpuUsed: number;
  /** Placed instances; hard. @default unlimited, 0 used */
  readonly instancesLimit?: number;
  readonly instancesUsed?: number;
}

/** One instance of `app` goes to `node`. */
export interface Placement {
  readonly app: string;
  readonly node: string;
}

/** Instances of a request left unplaced, and why (messages: see scheduler-message.ts). */
export interface Unplaced {
  readonly app: string;
  readonly count: number;
  readonly reason: 'Unschedulable' | 'QuotaExceeded' | 'InvalidResources';
  readonly message: string;
}

/** Instances were placed, but they took the tenant past its (soft) CPU quota. */
export interface ScheduleWarning {
  readonly app: string;
  readonly reason: 'CPUQuotaExceeded';
  readonly message: string;
}

export interface ScheduleResult {
  /** One entry per instance, in the order they were placed. */
  readonly placements: readonly Placement[];
  /** Per request at most one Unschedulable and one QuotaExceeded entry. */
  readonly unplaced: readonly Unplaced[];
  readonly warnings: readonly ScheduleWarning[];
}

/** The mutable working state of one schedule() call; typed arrays indexed like `nodes`. */
interface Ledger {
  readonly nodes: readonly NodeView[];
  readonly freeMemory: Float64Array;
  readonly freeCpu: Float64Array;
  /** Instances the node may still take. */
  readonly freeSlots: Float64Array;
  /** Position of each node's name in sorted order: the final tie-break. */
  readonly rank: Int32Array;
  /** Indexes of the nodes the current request may use, in its first `candidateCount` slots. */
  readonly candidates: Int32Array;
  /** spread: instances of the current request's app per node. */
  readonly appCount: Int32Array;
  readonly placements: Placement[];
}

/**
 * Places each request's instances on nodes, in request order, never overbooking memory.
 *
 * Unplaced messages name every node once under its first failing reason; a partially placed
 * request reads `2 of 3 instances placed; 0/5 nodes can run 1 more instance of 512Mi/250m: …`.
 */
export function schedule(
  requests: readonly PlacementRequest[],
  nodes: readonly NodeView[],
  budgets: Readonly<Record<string, TenantBudget>>,
): ScheduleResult {
  const ledger = openLedger(nodes);
  const usage = new Map<string, { memory: number; cpu: number; instances: number }>();
  const unplaced: Unplaced[] = [];
  const warnings: ScheduleWarning[] = [];

  for (const request of requests) {
    const count = Math.floor(request.count);
    if (!(count > 0)) continue;
    const invalid = sizeProblem(request.memory, request.cpu);
    if (invalid) {
      unplaced.push({ app: request.app, count: Number.isFinite(count) ? count : 0, reason: 'InvalidResources', message: invalid });
      continue;
    }
    const budget = Object.hasOwn(budgets, request.tenant) ? budgets[request.tenant] : undefined;
    let used = usage.get(request.tenant);
    if (!used) usage.set(request.tenant, (used = { memory: budget?.memoryUsed ?? 0, cpu: budget?.cpuUsed ?? 0, instances: budget?.instancesUsed ?? 0 }));

    const byMemory = budget?.memoryLimit === undefined ? count : withinQuota(count, request.memory, budget.memoryLimit - used.memory);
    const byInstances = budget?.instancesLimit === undefined ? count : Math.max(0, Math.min(count, budget.instancesLimit - used.instances));
    const allowed = Math.min(byMemory, byInstances);
    const candidateCount = selectCandidates(ledger, request);
    const placed = request.strategy === 'spread'
      ? placeSpread(ledger, request, candidateCount, allowed)
      : placeBinpack(ledger, request, candidateCount, allowed);
    used.memory += placed * request.memory;
    used.cpu += placed * request.cpu;
    used.instances += placed;

    if (placed < allowed) {
      unplaced.push({ app: request.app, count: allowed - placed, reason: 'Unschedulable', message: explain(ledger, request, count, placed, allowed - placed) });
    }
    if (allowed < count) {
      const missing = count - allowed;
      // The quota that binds tighter is the one to raise first.
      const message = byInstances <= byMemory
        ? instanceQuotaMessage(request.tenant, used.instances, budget!.instancesLimit!, missing)
        : memoryQuotaMessage(request.tenant, used.memory, budget!.memoryLimit!, missing * request.memory, missing);
      unplaced.push({ app: request.app, count: missing, reason: 'QuotaExceeded', message });
    }
    if (placed > 0 && budget?.cpuLimit !== undefined && used.cpu > budget.cpuLimit) {
      warnings.push({ app: request.app, reason: 'CPUQuotaExceeded', message: cpuQuotaMessage(request.tenant, used.cpu, budget.cpuLimit, placed) });
    }
  }
  return { placements: ledger.placements, unplaced, warnings };
}

function openLedger(nodes: readonly NodeView[]): Ledger {
  const n = nodes.length;
  const freeMemory = new Float64Array(n);
  const freeCpu = new Float64Array(n);
  const freeSlots = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const node = nodes[i]!;
    freeMemory[i] = node.allocatableMemory - node.allocatedMemory;
    freeCpu[i] = node.allocatableCpu - node.allocatedCpu;
    freeSlots[i] = node.maxInstances === undefined ? MAX_SIZE : node.maxInstances - (node.allocatedInstances ?? 0);
  }
  // Code-unit order, not localeCompare: the tie-break must not depend on the machine's locale.
  const byName = nodes.map((_, i) => i).sort((a, b) => {
    const x = nodes[a]!.name;
    const y = nodes[b]!.name;
    return x < y ? -1 : x > y ? 1 : a - b;
  });
  const rank = new Int32Array(n);
  byName.forEach((index, position) => (rank[index] = position));
  return { nodes, freeMemory, freeCpu, freeSlots, rank, candidates: new Int32Array(n), appCount: new Int32Array(n), placements: [] };
}

/** How many of `count` instances of `size` bytes (≥ 1) fit in `room` bytes of quota. */
export function withinQuota(count: number, size: number, room: number): number {
  return Math.max(0, Math.min(count, fitCount(room, size)));
}

/** floor(room / size), corrected for the rounding of a float division so it never overstates. */
export function fitCount(room: number, size: number): number {
  let k = Math.floor(room / size);
  while (k > 0 && k * size > room) k--;
  return k;
}

/** Why a node is out for this request before its free resources are even looked at, if it is. */
function ruledOut(node: NodeView, request: PlacementRequest, selector: readonly (readonly [string, string])[]): Rejection | undefined {
  switch (node.state) {
    case 'ready':
      break;
    case 'decommissioned':
      return 'decommissioned';
    case 'cordoned':
      return 'cordoned';
    case 'draining':
      return 'draining';
    default:
      return 'not ready';
  }
  if (node.isolated === false) return 'not isolated';
  for (const [key, value] of selector) {
    if (!Object.hasOwn(node.labels, key) || node.labels[key] !== value) return 'node selector mismatch';
  }
  if (request.avoidNodes?.includes(node.name)) return 'avoided';
  if (request.pinnedNode !== undefined && node.name !== request.pinnedNode) return 'pinned elsewhere';
  return undefined;
}

/** Why a node that is not ruled out still cannot take one more instance, if it cannot. */
function tooFull(ledger: Ledger, i: number, request: PlacementRequest): Rejection | undefined {
  if (ledger.freeSlots[i]! < 1) return 'at the instance limit';
  if (ledger.freeMemory[i]! < request.memory) return 'insufficient memory';
  if (ledger.freeCpu[i]! < request.cpu) return 'insufficient cpu';
  return undefined;
}

/** Fills ledger.candidates with the nodes the request may use; returns how many. */
function selectCandidates(ledger: Ledger, request: PlacementRequest): number {
  const selector = Object.entries(request.nodeSelector ?? {});
  let k = 0;
  for (let i = 0; i < ledger.nodes.length; i++) {
    if (ruledOut(ledger.nodes[i]!, request, selector) === undefined) ledger.candidates[k++] = i;
  }
  return k;
}

/** Records `k` instances of the request on node `i`. */
function place(ledger: Ledger, i: number, request: PlacementRequest, k: number): void {
  ledger.freeMemory[i]! -= k * request.memory;
  ledger.freeCpu[i]! -= k * request.cpu;
  ledger.freeSlots[i]! -= k;
  const node = ledger.nodes[i]!.name;
  for (let j = 0; j < k; j++) ledger.placements.push({ app: request.app, node });
}

/** binpack: fills the fitting node with the least free memory, as many instances at a time as it takes. */
function placeBinpack(ledger: Ledger, request: PlacementRequest, candidateCount: number, want: number): number {
  const { candidates, freeMemory, freeCpu, freeSlots, rank } = ledger;
  const { memory, cpu } = request;
  let placed = 0;
  while (placed < want) {
    let best = -1;
    for (let c = 0; c < candidateCount; c++) {
      const i = candidates[c]!;
      if (freeSlots[i]! < 1 || freeMemory[i]! < memory || freeCpu[i]! < cpu) continue;
      if (best < 0 || freeMemory[i]! < freeMemory[best]! || (freeMemory[i] === freeMemory[best] && rank[i]! < rank[best]!)) best = i;
    }
    if (best < 0) break;
    // Sizes are ≥ 1 (sizeProblem), so both counts are finite.
    const fits = Math.min(want - placed, freeSlots[best]!, fitCount(freeMemory[best]!, memory), fitCount(freeCpu[best]!, cpu));
    place(ledger, best, request, fits);
    placed += fits;
  }
  return placed;
}

/** spread: one instance at a time on the fitting node with the fewest of the app, then most free memory. */
function placeSpread(ledger: Ledger, request: PlacementRequest, candidateCount: number, want: number): number {
  const { candidates, freeMemory, freeCpu, freeSlots, rank, appCount, nodes } = ledger;
  const { memory, cpu } = request;
  const existing = request.existingByNode ?? {};
  for (let c = 0; c < candidateCount; c++) {
    const i = candidates[c]!;
    const name = nodes[i]!.name;
    appCount[i] = Object.hasOwn(existing, name) ? existing[name]! : 0;
  }
  let placed = 0;
  while (placed < want) {
    let best = -1;
    for (let c = 0; c < candidateCount; c++) {
      const i = candidates[c]!;
      if (freeSlots[i]! < 1 || freeMemory[i]! < memory || freeCpu[i]! < cpu) continue;
      if (
        best < 0 ||
        appCount[i]! < appCount[best]! ||
        (appCount[i] === appCount[best] && (freeMemory[i]! > freeMemory[best]! || (freeMemory[i] === freeMemory[best] && rank[i]! < rank[best]!)))
      ) {
        best = i;
      }
    }
    if (best < 0) break;
    place(ledger, best, request, 1);
    appCount[best]!++;
    placed++;
  }
  return placed;
}

/** Counts every node under its first failing reason and words the result (scheduler-message.ts). */
function explain(ledger: Ledger, request: PlacementRequest, requested: number, placed: number, unplaced: number): string {
  const selector = Object.entries(request.nodeSelector ?? {});
  const rejections = new Map<Rejection, number>();
  let largestFreeMemory = 0;
  let largestFreeCpu = 0;
  let pinned: Shortfall['pinned'];
  if (request.pinnedNode !== undefined) {
    pinned = { node: request.pinnedNode, rejection: 'unknown', freeMemory: 0, freeCpu: 0 };
  }
  for (let i = 0; i < ledger.nodes.length; i++) {
    const node = ledger.nodes[i]!;
    // A node reaching here fits nothing: the placement loops stop only when no candidate fits.
    const rejection = ruledOut(node, request, selector) ?? tooFull(ledger, i, request) ?? 'insufficient cpu';
    rejections.set(rejection, (rejections.get(rejection) ?? 0) + 1);
    if (rejection === 'insufficient memory') largestFreeMemory = Math.max(largestFreeMemory, ledger.freeMemory[i]!);
    if (rejection === 'insufficient cpu') largestFreeCpu = Math.max(largestFreeCpu, ledger.freeCpu[i]!);
    if (pinned && pinned.rejection === 'unknown' && node.name === request.pinnedNode) {
      pinned = { node: node.name, rejection, freeMemory: ledger.freeMemory[i]!, freeCpu: ledger.freeCpu[i]! };
    }
  }
  return unschedulableMessage({
    requested,
    placed,
    unplaced,
    memory: request.memory,
    cpu: request.cpu,
    totalNodes: ledger.nodes.length,
    rejections,
    largestFreeMemory,
    largestFreeCpu,
    ...(pinned ? { pinned } : {}),
  });
}
