/**
 * The words of the scheduler: why instances were not placed, said the way a person reading
 * `kubectl describe` or `tend why` wants it. Decisions live in scheduler.ts; this file only
 * formats what it decided. Sizes arrive as plain numbers (bytes, millicores) and are rendered
 * with the Kubernetes suffixes people write: memory binary (`512Mi`), CPU decimal (`250m`).
 */
import { Quantity } from '../api/quantity.js';
import { formatQuantity } from '../api/quantity-format.js';

/**
 * Why one node cannot take an instance, in the order a node is classified: each node counts once,
 * under the first of these that applies.
 */
export const REJECTIONS = [
  'not ready',
  'decommissioned',
  'cordoned',
  'draining',
  'not isolated',
  'node selector mismatch',
  'avoided',
  'pinned elsewhere',
  'at the instance limit',
  'insufficient memory',
  'insufficient cpu',
] as const;
export type Rejection = (typeof REJECTIONS)[number];

/** What the scheduler found when it ran out of nodes for a request. */
export interface Shortfall {
  /** Instances the request asked for. */
  readonly requested: number;
  /** Instances of it placed in this call. */
  readonly placed: number;
  /** Instances that fit the tenant's quota but no node (the Unplaced count). */
  readonly unplaced: number;
  /** Per instance: bytes and millicores. */
  readonly memory: number;
  readonly cpu: number;
  /** All nodes the scheduler was given. */
  readonly totalNodes: number;
  /** Nodes by their first failing reason; reasons with no nodes are absent. */
  readonly rejections: ReadonlyMap<Rejection, number>;
  /** The most free memory among nodes rejected for memory, and the most free CPU among those rejected for CPU. */
  readonly largestFreeMemory: number;
  readonly largestFreeCpu: number;
  /** For a pinned request: its node and why it cannot take the instance (`unknown`: no such node). */
  readonly pinned?: {
    readonly node: string;
    readonly rejection: Rejection | 'unknown';
    readonly freeMemory: number;
    readonly freeCpu: number;
  };
}

/** Renders bytes the way memory is written (`1792Mi`, `2Gi`); negatives read as 0. */
export function formatMemory(bytes: number): string {
  return formatQuantity(Quantity.parse(Math.max(0, Math.round(bytes))), 'binary');
}

/** Renders millicores the way CPU is written (`250m`, `4`); negatives read as 0. */
export function formatCpu(millicores: number): string {
  return formatQuantity(Quantity.parse(`${Math.max(0, Math.round(millicores))}m`), 'decimal');
}

const instances = (n: number) => `${n} instance${n === 1 ? '' : 's'}`;

/**
 * Explains an Unschedulable shortfall. Formats (tests hold them exactly):
 *
 * - nothing placed: `0/5 nodes can run 1 instance of 512Mi/250m: 3 insufficient memory (largest free 256Mi), 1 cordoned, 1 not ready`
 * - some placed: `2 of 3 instances placed; 0/5 nodes can run 1 more instance of 512Mi/250m: 5 insufficient memory (largest free 256Mi)`
 * - pinned: `0/5 nodes can run 1 instance of 512Mi/250m: its volume's node node-2 is not ready`
 *
 * Reasons are listed by node count, most first, then alphabetically (as the Kubernetes scheduler
 * sorts its "0/5 nodes are available" list), so the biggest obstacle is read first.
 */
export function unschedulableMessage(s: Shortfall): string {
  const size = `${formatMemory(s.memory)}/${formatCpu(s.cpu)}`;
  const what = s.placed > 0
    ? `${s.placed} of ${instances(s.requested)} placed; 0/${s.totalNodes} nodes can run ${s.unplaced} more instance${s.unplaced === 1 ? '' : 's'} of ${size}`
    : `0/${s.totalNodes} nodes can run ${instances(s.unplaced)} of ${size}`;
  return `${what}: ${s.pinned ? pinnedReason(s.pinned) : reasonList(s)}`;
}

function reasonList(s: Shortfall): string {
  if (s.totalNodes === 0) return 'there are no nodes';
  return [...s.rejections]
    .sort(([a, m], [b, n]) => n - m || (a < b ? -1 : a > b ? 1 : 0))
    .map(([reason, n]) => {
      if (reason === 'insufficient memory') return `${n} ${reason} (largest free ${formatMemory(s.largestFreeMemory)})`;
      if (reason === 'insufficient cpu') return `${n} ${reason} (largest free ${formatCpu(s.largestFreeCpu)})`;
      return `${n} ${reason}`;
    })
    .join(', ');
}

// A pinned request can only ever run on one node, so the other nodes' reasons would be noise.
function pinnedReason(pinned: NonNullable<Shortfall['pinned']>): string {
  const subject = `its volume's node ${pinned.node}`;
  switch (pinned.rejection) {
    case 'unknown':
      return `${subject} is not a known node`;
    case 'node selector mismatch':
      return `${subject} does not match the app's node selector`;
    case 'avoided':
      return `${subject} is avoided by this placement`;
    case 'pinned elsewhere':
      return `${subject} is pinned elsewhere`; // unreachable: the pinned node is never "elsewhere"
    case 'insufficient memory':
      return `${subject} has insufficient memory (${formatMemory(pinned.freeMemory)} free)`;
    case 'insufficient cpu':
      return `${subject} has insufficient cpu (${formatCpu(pinned.freeCpu)} free)`;
    default:
      return `${subject} is ${pinned.rejection}`;
  }
}

/**
 * Explains a QuotaExceeded shortfall, with the usage counted after this call's placements:
 * `tenant acme's memory quota: 1792Mi of 2Gi used, 512Mi more needed` (one instance), or
 * `tenant acme's memory quota: 1792Mi of 2Gi used, 1Gi more needed for 2 instances`.
 */
export function memoryQuotaMessage(tenant: string, used: number, limit: number, needed: number, count: number): string {
  const forWhom = count === 1 ? '' : ` for ${instances(count)}`;
  return `tenant ${tenant}'s memory quota: ${formatMemory(used)} of ${formatMemory(limit)} used, ${formatMemory(needed)} more needed${forWhom}`;
}

/**
 * Explains an instance-quota shortfall, with the count after this call's placements:
 * `tenant acme's instance quota (spec.quota.instances): 10 of 10 placed, 3 more not placed`.
 */
export function instanceQuotaMessage(tenant: string, used: number, limit: number, missing: number): string {
  return `tenant ${tenant}'s instance quota (spec.quota.instances): ${used} of ${limit} placed, ${missing} more not placed`;
}

/**
 * Warns that placed instances took a tenant past its CPU quota, which is soft:
 * `tenant acme's cpu quota: 4500m of 4 used after placing 2 instances; cpu is a soft limit, so they were placed anyway`.
 */
export function cpuQuotaMessage(tenant: string, used: number, limit: number, placed: number): string {
  const they = placed === 1 ? 'it was' : 'they were';
  return `tenant ${tenant}'s cpu quota: ${formatCpu(used)} of ${formatCpu(limit)} used after placing ${instances(placed)}; cpu is a soft limit, so ${they} placed anyway`;
}
