/**
 * The Node planner: a Node's spec × what its agent reports × what is placed on it → the row the
 * scheduler reads, the status people read, and when to look again. Pure.
 *
 * Liveness is judged here, from the agent's last heartbeat in PostgreSQL: heartbeats never write
 * the API server; the status changes only when something does (Ready flips, allocation moves).
 */
import { Quantity } from '../api/quantity.js';
import { formatQuantity } from '../api/quantity-format.js';
import { binaryQuantity, bytes, millicores } from '../api/quantity-units.js';
import { type Condition, type ConditionUpdate, deepEqual, readySummary, rfc3339Seconds, setCondition } from '../framework/index.js';
import type { Node, NodeStatus } from '../api/types/node.js';

/** Cluster-wide settings every replica must agree on. */
export interface ClusterConfig {
  /** CPU is sold this many times over. @default 4 */
  readonly cpuOvercommitRatio: number;
  /** Memory kept free on every node beyond `reserved`, bytes. @default 256 MiB */
  readonly memorySafetyBuffer: number;
  /** How often agents heartbeat. @default 5_000 */
  readonly heartbeatMs: number;
  /** Heartbeats missed before a node is lost. @default 3 */
  readonly missedHeartbeats: number;
  /** A lost node's stateless instances are replaced elsewhere after this long. @default 30_000 */
  readonly lostGraceMs: number;
  /** The instances of an App whose namespace no Tenant owns stop after this long. @default 300_000 */
  readonly noTenantGraceMs: number;
  /** Most instances placed on one node, whatever their sizes (the kubelet's maxPods is 110). @default 250 */
  readonly maxInstancesPerNode: number;
  /**
   * Place Apps on nodes whose agent cannot sandbox instances (Isolated=False) too. Off for
   * `tend run` clusters (multi-tenant: tenants' code must not run as the agent); `tend up`, one
   * user's own machine, turns it on. @default false
   */
  readonly allowUnisolatedNodes: boolean;
  /** The backups of a deleted Volume are kept this long (restorable by its tenant), then pruned. @default 7 days */
  readonly deletedBackupRetentionMs: number;
}

export const DEFAULT_CLUSTER_CONFIG: ClusterConfig = {
  cpuOvercommitRatio: 4,
  memorySafetyBuffer: 256 * 2 ** 20,
  heartbeatMs: 5_000,
  missedHeartbeats: 3,
  lostGraceMs: 30_000,
  noTenantGraceMs: 300_000,
  maxInstancesPerNode: 250,
  allowUnisolatedNodes: false,
  deletedBackupRetentionMs: 7 * 24 * 3_600_000,
};

/** What the agent wrote (platform.node_agents). */
export interface AgentReport {
  readonly heartbeatAt: Date;
  /**
   * Since when heartbeats could be seen (PostgreSQL's start, the control plane's rejoin after an
   * outage). A node is lost by evidence: silent for the whole window while it was watched, not
   * because its last row is old — else every node looks lost when the database comes back.
   */
  readonly watchedSince?: Date;
  readonly capacity: { readonly cpu: number; readonly memory: number; readonly disk: number };
  /** Whether the agent sandboxes instances, and its sentence why (not). @default not isolated, no reason */
  readonly isolation?: { readonly isolated: boolean; readonly message: string };
}

/** What the scheduler reads (platform.nodes), as the planner wants it. */
export interface NodeRow {
  readonly generation: number;
  readonly address: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly state: NodeState;
  readonly allocatableMemory: number;
  readonly allocatableCpu: number;
  /** Bytes of disk offered to volumes: spec.capacity.disk, else what the agent measured. */
  readonly disk: number;
  /** While the node is lost: when its silence began as the control plane saw it (its last heartbeat, or the control plane's return after an outage); null while alive (or never seen). */
  readonly lostSince: string | null;
  /** While draining: seconds replacements may take before the rest are stopped; else null. */
  readonly drainDeadlineSeconds: number | null;
}

export type NodeState = 'ready' | 'cordoned' | 'draining' | 'decommissioned';

export interface NodeObserved {
  readonly agent: AgentReport | undefined;
  /** Σ over instances placed on the node. */
  readonly allocated: { readonly memory: number; readonly cpu: number; readonly instances: number };
  readonly row: NodeRow | undefined;
  /** Volumes whose data lives on this node (namespace/name). @default [] */
  readonly volumes?: readonly string[];
}

export interface NodePlan {
  /** The row to write, when it differs from the one stored. */
  readonly upsert: NodeRow | undefined;
  readonly status: NodeStatus;
  /** Look again then (the moment the node would be lost), even if nothing changes. */
  readonly requeueAfterMs: number | undefined;
  /** During deletion: nothing is placed here any more, so the row and the finalizer may go. */
  readonly release: boolean;
  /** Decommissioned with nothing left here: the node's agent credentials are revoked. */
  readonly revokeIdentity: boolean;
}

/** Condition types of a Node, Ready's precedence first. */
export const NODE_CONDITIONS = ['Alive', 'Schedulable', 'Isolated'] as const;

/** Plans one Node. */
export function planNode(node: Node, observed: NodeObserved, config: ClusterConfig, env: { readonly now: Date }): NodePlan {
  const spec = node.spec ?? {};
  const generation = node.metadata.generation ?? 0;
  const now = env.now.getTime();
  const reported = observed.agent?.capacity;
  // The spec may offer less than the agent measured; without either the node offers nothing.
  const capacity = {
    cpu: millicores(spec.capacity?.cpu) ?? reported?.cpu ?? 0,
    memory: bytes(spec.capacity?.memory) ?? reported?.memory ?? 0,
    disk: bytes(spec.capacity?.disk) ?? reported?.disk ?? 0,
  };
  const reserved = { cpu: millicores(spec.reserved?.cpu) ?? 0, memory: bytes(spec.reserved?.memory) ?? 0 };
  const allocatableMemory = Math.max(0, capacity.memory - reserved.memory - config.memorySafetyBuffer);
  const allocatableCpu = Math.max(0, Math.floor(capacity.cpu * config.cpuOvercommitRatio) - reserved.cpu);
  const state: NodeState = spec.decommission ? 'decommissioned' : spec.drain ? 'draining' : spec.unschedulable ? 'cordoned' : 'ready';
  const lostAfterMs = config.heartbeatMs * config.missedHeartbeats;
  const beat = observed.agent?.heartbeatAt.getTime();
  // Silence counts from the last heartbeat or from when the control plane could first see one.
  const silentFrom = beat === undefined ? undefined : Math.max(beat, observed.agent?.watchedSince?.getTime() ?? beat);
  const alive = silentFrom !== undefined && now - silentFrom <= lostAfterMs;
  const lostSince = silentFrom !== undefined && !alive ? new Date(silentFrom).toISOString() : null;
  const drainDeadlineSeconds = state === 'draining' ? (spec.drain?.deadlineSeconds ?? 300) : null;
  const row: NodeRow = { generation, address: spec.address ?? null, labels: spec.labels ?? {}, state, allocatableMemory, allocatableCpu, disk: capacity.disk, lostSince, drainDeadlineSeconds };
  const updates: ConditionUpdate[] = [];
  if (beat === undefined) {
    updates.push({ type: 'Alive', status: 'Unknown', reason: 'AgentNotReporting', message: `no agent has reported for this node yet: run tend agent --node ${node.metadata.name}` });
  } else if (!alive) {
    const missed = Math.floor((now - beat) / config.heartbeatMs);
    updates.push({ type: 'Alive', status: 'False', reason: 'NodeLost', message: `no heartbeat since ${new Date(beat).toISOString()} (${missed} missed, lost after ${config.missedHeartbeats})` });
  } else {
    updates.push({ type: 'Alive', status: 'True', reason: 'Heartbeating', message: '' });
  }
  const instances = observed.allocated.instances;
  const volumes = observed.volumes ?? [];
  const volumesLeft = volumes.length > 0 ? `${plural(volumes.length, 'volume')} still here (${volumes.slice(0, 3).join(', ')}${volumes.length > 3 ? ', …' : ''}): restore them elsewhere from a backup and delete them first` : '';
  updates.push(
    state === 'ready'
      ? { type: 'Schedulable', status: 'True', reason: 'Schedulable', message: '' }
      : state === 'cordoned'
        ? { type: 'Schedulable', status: 'False', reason: 'Cordoned', message: 'spec.unschedulable is true: nothing new is placed here' }
        : state === 'draining'
          ? { type: 'Schedulable', status: 'False', reason: 'Draining', message: `draining: ${plural(instances, 'instance')} left` }
          : { type: 'Schedulable', status: 'False', reason: 'Decommissioned', message: instances > 0 ? `${plural(instances, 'instance')} still here: drain the node first` : volumesLeft || 'retired' },
  );
  updates.push(isolatedCondition(observed.agent, config.allowUnisolatedNodes));

  let conditions: Condition[] = node.status?.conditions ?? [];
  for (const update of updates) conditions = setCondition(conditions, update, { now: env.now, generation }).conditions;
  const deleting = node.metadata.deletionTimestamp !== undefined;
  const ready: ConditionUpdate = deleting
    ? { type: 'Ready', status: 'False', reason: 'DeletionBlocked', message: instances > 0 ? `${plural(instances, 'instance')} still placed here: drain the node first` : volumesLeft }
    : state === 'decommissioned' && instances === 0 && volumes.length > 0
      ? { type: 'Ready', status: 'False', reason: 'DecommissionBlocked', message: volumesLeft }
      : state === 'decommissioned' && instances === 0
      ? { type: 'Ready', status: 'False', reason: 'Decommissioned', message: 'the node is retired; delete it when its machine is gone' }
      : { type: 'Ready', ...readySummary(conditions, { dependsOn: ['Alive'] }) };
  const previousReady = conditions.find((c) => c.type === 'Ready');
  conditions = setCondition(conditions, ready, { now: env.now, generation }).conditions;
  const readyChanged = previousReady?.status !== ready.status;

  const status: NodeStatus = {
    capacity: { cpu: formatQuantity(Quantity.parse(`${capacity.cpu}m`), 'decimal'), memory: binaryQuantity(capacity.memory), disk: binaryQuantity(capacity.disk) },
    allocatable: { cpu: formatQuantity(Quantity.parse(`${allocatableCpu}m`), 'decimal'), memory: binaryQuantity(allocatableMemory) },
    allocated: { cpu: formatQuantity(Quantity.parse(`${observed.allocated.cpu}m`), 'decimal'), memory: binaryQuantity(observed.allocated.memory) },
    instances,
    conditions,
    observedGeneration: generation,
    // The heartbeat as of Ready's last change: moving it on every beat would write every beat.
    ...(readyChanged && beat !== undefined
      ? { lastHeartbeatTime: rfc3339Seconds(new Date(beat)) }
      : node.status?.lastHeartbeatTime
        ? { lastHeartbeatTime: node.status.lastHeartbeatTime }
        : {}),
  };
  const stored = observed.row;
  const same = stored !== undefined && deepEqual(stored, row);
  return {
    upsert: same ? undefined : row,
    status,
    // Alive: look again when it would be lost. Lost: look every heartbeat period for its return
    // (a PostgreSQL read; nothing is written unless it did return).
    requeueAfterMs: alive ? silentFrom! + lostAfterMs - now + 1 : beat !== undefined ? config.heartbeatMs : undefined,
    release: deleting && instances === 0 && volumes.length === 0,
    revokeIdentity: state === 'decommissioned' && instances === 0 && volumes.length === 0,
  };
}

/** Isolated: whether instances here are sandboxed (the agent says, at its start), and what that means for placement. */
function isolatedCondition(agent: AgentReport | undefined, allowUnisolated: boolean): ConditionUpdate {
  if (!agent) return { type: 'Isolated', status: 'Unknown', reason: 'AgentNotReporting', message: 'no agent has said how it isolates instances yet' };
  const isolation = agent.isolation ?? { isolated: false, message: 'the agent did not report a sandbox' };
  if (isolation.isolated) return { type: 'Isolated', status: 'True', reason: 'Sandboxed', message: isolation.message };
  const consequence = allowUnisolated
    ? 'the cluster allows unisolated nodes, so Apps are placed here anyway'
    : 'no App is placed here (tend run --allow-unisolated-nodes would allow it)';
  return { type: 'Isolated', status: 'False', reason: 'SandboxUnavailable', message: `${isolation.message}; ${consequence}` };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
