import { describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import type { Volume } from '../../../api/types/volume.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { appStatus, planApp, templateOf, type AppInstance } from '../../../reconcilers/app.js';
import { chooseVolumeNode, type BindingNode } from '../../../reconcilers/volume-binding.js';
import { planVolume, type VolumeObserved, type VolumeRow } from '../../../reconcilers/volume.js';

const now = new Date('2026-11-29T12:00:00Z');
const Gi = 2 ** 30;

function volume(spec: Partial<Volume['spec']> = {}, metadata: Partial<Volume['metadata']> = {}): Volume {
  return {
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'Volume',
    metadata: { name: 'db', namespace: 'acme', uid: 'u1', generation: 1, creationTimestamp: '2026-11-29T00:00:00Z', ...metadata },
    spec: { size: '1Gi', ...spec },
  };
}

function row(extra: Partial<VolumeRow> = {}): VolumeRow {
  return {
    uid: 'u1', tenant: 't', size: Gi, restoreFrom: null, backupSchedule: null, backupRetain: 7, backupRequest: null, backupKey: 't/u1',
    node: 'n1', boundAt: now, desired: 'present', phase: 'ready', message: null, usage: 1024, backups: [], lastBackupAt: null,
    ...extra,
  };
}

const observed = (extra: Partial<VolumeObserved> = {}): VolumeObserved => ({ row: row(), tenant: 't', node: { state: 'ready', lostSince: null }, mountedBy: [], ...extra });
const condition = (v: ReturnType<typeof planVolume>, type: string) => findCondition(v.status.conditions, type);

describe('planVolume', () => {
  it('writes the row once and then nothing while spec and row agree', () => {
    const first = planVolume(volume(), observed({ row: undefined }), { now });
    expect(first.upsert).toMatchObject({ uid: 'u1', tenant: 't', size: Gi, pinnedNode: null, backupRetain: 7 });
    expect(planVolume(volume(), observed(), { now }).upsert).toBeUndefined();
    expect(planVolume(volume({ size: '2Gi' }), observed(), { now }).upsert).toMatchObject({ size: 2 * Gi });
  });

  it('is Ready when bound, provisioned and within its size, and reports node and usage', () => {
    const plan = planVolume(volume(), observed(), { now });
    expect(condition(plan, 'Ready')).toMatchObject({ status: 'True' });
    expect(plan.status).toMatchObject({ node: 'n1', usage: '1Ki' });
  });

  it('waits for the first consumer when unbound', () => {
    const plan = planVolume(volume(), observed({ row: row({ node: null, phase: null, usage: null }), node: undefined }), { now });
    expect(condition(plan, 'Bound')).toMatchObject({ status: 'False', reason: 'WaitingForFirstConsumer' });
    expect(condition(plan, 'Ready')).toMatchObject({ status: 'False' });
  });

  it('says SizeExceeded with the numbers when usage passes spec.size', () => {
    const plan = planVolume(volume(), observed({ row: row({ usage: 1.5 * Gi }) }), { now });
    expect(condition(plan, 'WithinSize')).toMatchObject({ status: 'False', reason: 'SizeExceeded', message: expect.stringMatching(/^uses 1536Mi of its 1Gi/) });
    expect(condition(plan, 'Ready')).toMatchObject({ status: 'False', reason: 'SizeExceeded' });
  });

  it('names the node, since when, and the latest backup when the node is lost', () => {
    const backups = [{ id: 'b1', time: '2026-11-28T03:00:00Z', sizeBytes: 10, checksum: 'sha256:ab' }, { id: 'b2', time: '2026-11-29T03:00:00Z', sizeBytes: 10, checksum: 'sha256:cd' }];
    const plan = planVolume(volume(), observed({ row: row({ node: 'node-2', backups }), node: { state: 'ready', lostSince: new Date('2026-11-29T11:03:00Z') } }), { now });
    expect(condition(plan, 'Ready')?.message).toBe(
      'data of volume acme/db lives on node node-2, NotReady since 2026-11-29T11:03:00Z; restore the latest backup (b2, 2026-11-29T03:00:00Z) into a new Volume with spec.restoreFrom, or wait for node-2',
    );
    expect(plan.status.backups).toEqual([
      { id: 'b1', time: '2026-11-28T03:00:00Z', size: '10', checksum: 'sha256:ab' },
      { id: 'b2', time: '2026-11-29T03:00:00Z', size: '10', checksum: 'sha256:cd' },
    ]);
  });

  it('BackedUp: true within twice the schedule, False BackupOverdue beyond, and none without a schedule', () => {
    const daily = volume({ backup: { schedule: '0 3 * * *' } });
    expect(condition(planVolume(daily, observed({ row: row({ lastBackupAt: new Date('2026-11-29T03:00:00Z') }) }), { now }), 'BackedUp')).toMatchObject({ status: 'True', reason: 'BackedUp' });
    const overdue = planVolume(daily, observed({ row: row({ lastBackupAt: new Date('2026-11-26T03:00:00Z') }) }), { now });
    expect(condition(overdue, 'BackedUp')).toMatchObject({ status: 'False', reason: 'BackupOverdue' });
    // An overdue backup alerts; the data is still usable.
    expect(condition(overdue, 'Ready')).toMatchObject({ status: 'True' });
    expect(condition(planVolume(volume(), observed(), { now }), 'BackedUp')).toBeUndefined();
  });

  it('on deletion: blocked while mounted, then asks the agent to remove the data, then removes the row', () => {
    const deleting = volume({}, { deletionTimestamp: '2026-11-29T11:59:00Z' });
    const blocked = planVolume(deleting, observed({ mountedBy: ['web'] }), { now });
    expect(blocked.deletion).toBe('blocked');
    expect(condition(blocked, 'Ready')).toMatchObject({ reason: 'DeletionBlocked', message: expect.stringMatching(/^still mounted by App web/) });
    expect(planVolume(deleting, observed(), { now }).deletion).toBe('mark-deleted');
    expect(planVolume(deleting, observed({ row: row({ desired: 'deleted' }) }), { now }).deletion).toBe('wait');
    expect(planVolume(deleting, observed({ row: row({ desired: 'deleted', phase: 'deleted' }) }), { now }).deletion).toBe('remove-row');
    expect(planVolume(deleting, observed({ row: row({ node: null }) }), { now }).deletion).toBe('remove-row');
  });
});

function node(name: string, extra: Partial<BindingNode> = {}): BindingNode {
  return { name, state: 'ready', labels: {}, allocatableMemory: 4 * Gi, allocatableCpu: 4000, allocatedMemory: 0, allocatedCpu: 0, diskCapacity: 100 * Gi, diskBound: 0, ...extra };
}

describe('chooseVolumeNode', () => {
  it('takes the ready node with the most free disk that also has memory for the instance', () => {
    const nodes = [node('a', { diskBound: 90 * Gi }), node('b', { diskBound: 10 * Gi }), node('c', { allocatedMemory: 4 * Gi }), node('d', { state: 'cordoned' })];
    expect(chooseVolumeNode(nodes, { size: 5 * Gi, memory: Gi, nodeSelector: {} })).toEqual({ node: 'b' });
  });

  it('passes over a node at its instance limit: the App could not run there', () => {
    const nodes = [node('a', { maxInstances: 10, allocatedInstances: 10 }), node('b', { diskBound: 50 * Gi, maxInstances: 10, allocatedInstances: 9 })];
    expect(chooseVolumeNode(nodes, { size: 5 * Gi, memory: Gi, nodeSelector: {} })).toEqual({ node: 'b' });
    expect(chooseVolumeNode([nodes[0]!], { size: 5 * Gi, memory: Gi, nodeSelector: {} })).toEqual({ message: '0/1 nodes can hold its volumes (5.0Gi): 1 at the instance limit' });
  });

  it('binds only to a node whose agent sandboxes instances, unless the cluster let it count as isolated', () => {
    const nodes = [node('a', { isolated: false }), node('b', { diskBound: 50 * Gi })];
    expect(chooseVolumeNode(nodes, { size: 5 * Gi, memory: Gi, nodeSelector: {} })).toEqual({ node: 'b' });
    expect(chooseVolumeNode([nodes[0]!], { size: 5 * Gi, memory: Gi, nodeSelector: {} })).toEqual({ message: '0/1 nodes can hold its volumes (5.0Gi): 1 not isolated (their agents cannot sandbox instances)' });
  });

  it('explains when no node can hold the volumes', () => {
    const nodes = [node('a', { diskBound: 99 * Gi }), node('b', { state: 'not-ready' })];
    expect(chooseVolumeNode(nodes, { size: 5 * Gi, memory: Gi, nodeSelector: {} })).toEqual({ message: '0/2 nodes can hold its volumes (5.0Gi): 1 not enough free disk (most free 1.0Gi), 1 not ready' });
  });
});

describe('planApp for an App with a volume', () => {
  const stateful = (replicas: number): App => ({
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'App',
    metadata: { name: 'db', namespace: 'acme', generation: 1 },
    spec: { replicas, command: ['node', 'db.mjs'], resources: { memory: '64Mi' }, volumes: [{ volume: 'data', mountPath: '/data' }] },
  });
  const instance = (revision: string, extra: Partial<AppInstance> = {}): AppInstance => ({ id: 'i1', revision, node: 'n1', desired: 'running', phase: 'running', ready: true, createdAt: now, ...extra });

  it('hands the volume to the instance and never runs more than one', () => {
    expect(templateOf(stateful(1)).template.volumes).toEqual([{ volume: 'acme/data', mountPath: '/data' }]);
    expect(planApp(stateful(3), [], { now }).steps).toEqual([{ op: 'place', revision: templateOf(stateful(3)).revision, count: 1 }]);
  });

  it('stops the old instance before starting the new one (no surge on a single-writer volume)', () => {
    const plan = planApp(stateful(1), [instance('old')], { now });
    expect(plan.steps).toEqual([{ op: 'stop', id: 'i1', why: `replaced by revision ${plan.revision}` }]);
  });

  it('keeps the instance on a lost or draining node, and says why with the volume sentence', () => {
    const rev = templateOf(stateful(1)).revision;
    const lost = instance(rev, { ready: false, nodeLostSince: new Date(now.getTime() - 3_600_000), nodeDraining: true, nodeDrainExpired: true });
    const plan = planApp(stateful(1), [lost], { now, lostGraceMs: 1_000 });
    expect(plan.steps).toEqual([]);
    const status = appStatus(stateful(1), [lost], plan, { placed: 0 }, { now, volumeBlocked: { reason: 'VolumeNodeLost', message: 'data of volume acme/data lives on node n1 …' } });
    expect(findCondition(status.conditions, 'Available')).toMatchObject({ status: 'False', reason: 'VolumeNodeLost', message: 'data of volume acme/data lives on node n1 …' });
  });

  it('says VolumesWithinSize=False with reason SizeExceeded while a volume holds more than its size, and stays Ready', () => {
    const rev = templateOf(stateful(1)).revision;
    const running = [instance(rev)];
    const plan = planApp(stateful(1), running, { now });
    const over = appStatus(stateful(1), running, plan, { placed: 0 }, { now, volumeOverSize: 'volume acme/data holds 1.5Gi, more than its spec.size 1Gi …' });
    expect(findCondition(over.conditions, 'VolumesWithinSize')).toMatchObject({ status: 'False', reason: 'SizeExceeded', message: 'volume acme/data holds 1.5Gi, more than its spec.size 1Gi …' });
    expect(findCondition(over.conditions, 'Ready')?.status).toBe('True');
    const within = appStatus(stateful(1), running, plan, { placed: 0 }, { now });
    expect(findCondition(within.conditions, 'VolumesWithinSize')).toMatchObject({ status: 'True', reason: 'WithinSize' });
  });
});
