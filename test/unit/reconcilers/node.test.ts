import { describe, expect, it } from 'vitest';
import type { Node } from '../../../api/types/node.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { DEFAULT_CLUSTER_CONFIG, planNode, type NodeObserved } from '../../../reconcilers/node.js';

const now = new Date('2026-01-02T03:04:05Z');
const GiB = 2 ** 30;

function node(spec: Node['spec'], status?: Node['status']): Node {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: 'node-1', generation: 1 }, spec: spec ?? {}, ...(status ? { status } : {}) };
}

const alive: NodeObserved = {
  agent: { heartbeatAt: new Date(now.getTime() - 2_000), capacity: { cpu: 2_000, memory: 8 * GiB, disk: 100 * GiB } },
  allocated: { memory: 0, cpu: 0, instances: 0 },
  row: undefined,
};

describe('planNode', () => {
  it('offers capacity minus reserved minus the safety buffer, and CPU times the overcommit ratio', () => {
    const plan = planNode(node({ reserved: { cpu: '500m', memory: '1Gi' } }), alive, DEFAULT_CLUSTER_CONFIG, { now });
    expect(plan.upsert).toMatchObject({ state: 'ready', allocatableMemory: 8 * GiB - GiB - 256 * 2 ** 20, allocatableCpu: 2_000 * 4 - 500 });
    expect(plan.status.allocatable).toEqual({ cpu: '7500m', memory: '6912Mi' });
    expect(plan.status.capacity).toEqual({ cpu: '2', memory: '8Gi', disk: '100Gi' });
  });

  it('lets the spec offer less than the agent measured', () => {
    const plan = planNode(node({ capacity: { memory: '4Gi' } }), alive, DEFAULT_CLUSTER_CONFIG, { now });
    expect(plan.status.capacity?.memory).toBe('4Gi');
  });

  it('is Ready while heartbeats arrive, and looks again exactly when the node would be lost', () => {
    const plan = planNode(node({}), alive, DEFAULT_CLUSTER_CONFIG, { now });
    expect(findCondition(plan.status.conditions, 'Ready')?.status).toBe('True');
    expect(plan.requeueAfterMs).toBe(15_000 - 2_000 + 1);
  });

  it('reports NodeLost after three missed heartbeats, saying since when', () => {
    const lost = { ...alive, agent: { ...alive.agent!, heartbeatAt: new Date(now.getTime() - 16_000) } };
    const plan = planNode(node({}), lost, DEFAULT_CLUSTER_CONFIG, { now });
    expect(findCondition(plan.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'NodeLost', message: 'no heartbeat since 2026-01-02T03:03:49.000Z (3 missed, lost after 3)' });
    expect(plan.requeueAfterMs).toBe(5_000);
  });

  it('is not lost for a silence the control plane could not see: the window starts when it could watch again', () => {
    // PostgreSQL was down for two minutes and came back 4 s ago: the last heartbeat is old, but
    // nothing says the node stopped beating while anyone could have seen it.
    const afterOutage = { ...alive, agent: { ...alive.agent!, heartbeatAt: new Date(now.getTime() - 124_000), watchedSince: new Date(now.getTime() - 4_000) } };
    const plan = planNode(node({}), afterOutage, DEFAULT_CLUSTER_CONFIG, { now });
    expect(findCondition(plan.status.conditions, 'Alive')).toMatchObject({ status: 'True', reason: 'Heartbeating' });
    expect(plan.upsert?.lostSince).toBeNull();
    expect(plan.requeueAfterMs).toBe(15_000 - 4_000 + 1);

    // Still silent a full window after the return: lost, and the grace counts from the return.
    const later = new Date(now.getTime() + 12_000);
    const lost = planNode(node({}), afterOutage, DEFAULT_CLUSTER_CONFIG, { now: later });
    expect(findCondition(lost.status.conditions, 'Alive')).toMatchObject({ status: 'False', reason: 'NodeLost' });
    expect(lost.upsert?.lostSince).toBe(new Date(now.getTime() - 4_000).toISOString());
  });

  it('reports Isolated=True with reason Sandboxed from an agent that sandboxes, and Ready does not depend on it', () => {
    const sandboxed = { ...alive, agent: { ...alive.agent!, isolation: { isolated: true, message: 'instances run in their own namespaces' } } };
    const plan = planNode(node({}), sandboxed, DEFAULT_CLUSTER_CONFIG, { now });
    expect(findCondition(plan.status.conditions, 'Isolated')).toMatchObject({ status: 'True', reason: 'Sandboxed', message: 'instances run in their own namespaces' });
    expect(findCondition(plan.status.conditions, 'Ready')?.status).toBe('True');
  });

  it('reports Isolated=False with reason SandboxUnavailable and what it means for placement, per the cluster setting', () => {
    const open = { ...alive, agent: { ...alive.agent!, isolation: { isolated: false, message: 'the agent runs as uid 1000, not root' } } };
    const refused = planNode(node({}), open, DEFAULT_CLUSTER_CONFIG, { now });
    expect(findCondition(refused.status.conditions, 'Isolated')).toMatchObject({
      status: 'False', reason: 'SandboxUnavailable', message: 'the agent runs as uid 1000, not root; no App is placed here (tend run --allow-unisolated-nodes would allow it)',
    });
    expect(findCondition(refused.status.conditions, 'Ready')?.status).toBe('True');
    const allowed = planNode(node({}), open, { ...DEFAULT_CLUSTER_CONFIG, allowUnisolatedNodes: true }, { now });
    expect(findCondition(allowed.status.conditions, 'Isolated')?.message).toBe('the agent runs as uid 1000, not root; the cluster allows unisolated nodes, so Apps are placed here anyway');
    expect(findCondition(planNode(node({}), { ...alive, agent: undefined }, DEFAULT_CLUSTER_CONFIG, { now }).status.conditions, 'Isolated')).toMatchObject({ status: 'Unknown', reason: 'AgentNotReporting' });
  });

  it('says how to start the agent when none has reported', () => {
    const plan = planNode(node({}), { ...alive, agent: undefined }, DEFAULT_CLUSTER_CONFIG, { now });
    expect(findCondition(plan.status.conditions, 'Ready')).toMatchObject({ status: 'Unknown', reason: 'AgentNotReporting' });
  });

  it('maps cordon, drain and decommission to the row state and the Schedulable condition', () => {
    expect(planNode(node({ unschedulable: true }), alive, DEFAULT_CLUSTER_CONFIG, { now }).upsert?.state).toBe('cordoned');
    const draining = planNode(node({ drain: {} }), { ...alive, allocated: { memory: GiB, cpu: 100, instances: 2 } }, DEFAULT_CLUSTER_CONFIG, { now });
    expect(draining.upsert?.state).toBe('draining');
    expect(findCondition(draining.status.conditions, 'Schedulable')).toMatchObject({ status: 'False', reason: 'Draining', message: 'draining: 2 instances left' });
    const retired = planNode(node({ decommission: true }), alive, DEFAULT_CLUSTER_CONFIG, { now });
    expect(findCondition(retired.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'Decommissioned' });
  });

  it('waits to decommission (and to be deleted) while volumes remain, naming them', () => {
    const withVolumes = { ...alive, volumes: ['acme/db', 'acme/cache'] };
    const retiring = planNode(node({ decommission: true }), withVolumes, DEFAULT_CLUSTER_CONFIG, { now });
    expect(findCondition(retiring.status.conditions, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'DecommissionBlocked',
      message: '2 volumes still here (acme/db, acme/cache): restore them elsewhere from a backup and delete them first',
    });
    const deleting = { ...node({ decommission: true }), metadata: { name: 'node-1', generation: 1, deletionTimestamp: now.toISOString() } };
    expect(planNode(deleting, withVolumes, DEFAULT_CLUSTER_CONFIG, { now }).release).toBe(false);
    expect(planNode(deleting, alive, DEFAULT_CLUSTER_CONFIG, { now }).release).toBe(true);
  });

  it('revokes the agent credentials of a decommissioned node only once nothing is left on it', () => {
    const decommissioned = node({ decommission: true });
    expect(planNode(decommissioned, alive, DEFAULT_CLUSTER_CONFIG, { now }).revokeIdentity).toBe(true);
    expect(planNode(decommissioned, { ...alive, allocated: { memory: GiB, cpu: 100, instances: 1 } }, DEFAULT_CLUSTER_CONFIG, { now }).revokeIdentity).toBe(false);
    expect(planNode(decommissioned, { ...alive, volumes: ['acme/db'] }, DEFAULT_CLUSTER_CONFIG, { now }).revokeIdentity).toBe(false);
    expect(planNode(node({ drain: {} }), alive, DEFAULT_CLUSTER_CONFIG, { now }).revokeIdentity).toBe(false);
  });

  it('writes neither row nor status again when nothing changed but the heartbeat', () => {
    const first = planNode(node({}), alive, DEFAULT_CLUSTER_CONFIG, { now });
    const settled = node({}, first.status);
    const later = new Date(now.getTime() + 5_000);
    const again = planNode(settled, { ...alive, agent: { ...alive.agent!, heartbeatAt: new Date(later.getTime() - 1_000) }, row: first.upsert }, DEFAULT_CLUSTER_CONFIG, { now: later });
    expect(again.upsert).toBeUndefined();
    expect(again.status).toEqual(first.status);
  });
});
