import { describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import { bindVerdict, planAppVolumes, VOLUMES_CONTENDED, type AppVolumeRow, type ObservedAppVolumes } from '../../../reconcilers/app-volumes.js';

const Gi = 2 ** 30;
const Mi = 2 ** 20;
const options = { memory: 64 * Mi };

function app(volumes: string[], replicas = 1): App {
  return {
    apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'db', namespace: 'acme', generation: 1 },
    spec: { replicas, command: ['postgres'], resources: { memory: '64Mi' }, volumes: volumes.map((v, i) => ({ volume: v, mountPath: `/data${i}` })) },
  };
}

function row(key: string, extra: Partial<AppVolumeRow> = {}): AppVolumeRow {
  return { key, node: 'n1', size: Gi, usage: null, desired: 'present', nodeLostSince: null, latestBackup: null, ...extra };
}

const mine = (...volumes: string[]) => volumes.map((volume) => ({ volume, app: 'acme/db' }));
const observed = (rows: AppVolumeRow[], claims = mine(...rows.map((r) => r.key))): ObservedAppVolumes => ({ rows, claims });

describe('planAppVolumes', () => {
  it('pins a single-writer App to the node its bound, claimed volumes live on', () => {
    expect(planAppVolumes(app(['data']), observed([row('acme/data')]), options)).toEqual({ verdict: { pinnedNode: 'n1' } });
  });

  it('refuses an instance size no node can hold before claiming or binding anything', () => {
    const plan = planAppVolumes(app(['data']), observed([row('acme/data', { node: null })], []), { memory: 0 });
    expect(plan).toMatchObject({ verdict: { unplaced: { reason: 'InvalidResources' } } });
  });

  it('names the volumes not found, and a volume being deleted, before claiming', () => {
    expect(planAppVolumes(app(['data', 'logs']), observed([row('acme/data')], []), options)).toEqual({
      verdict: { unplaced: { reason: 'VolumeNotFound', message: 'volume logs not found in namespace acme: create the Volume (or wait for its controller)' } },
    });
    expect(planAppVolumes(app(['data']), observed([row('acme/data', { desired: 'deleted' })], []), options)).toMatchObject({ verdict: { unplaced: { reason: 'VolumeDeleting' } } });
    const deleting = planAppVolumes(app(['data']), observed([row('acme/data')], []), { ...options, deleting: (k) => k === 'acme/data' });
    expect(deleting).toMatchObject({ verdict: { unplaced: { reason: 'VolumeDeleting' } } });
  });

  it('claims the free volumes first, all of them in one step', () => {
    expect(planAppVolumes(app(['data', 'logs']), observed([row('acme/data'), row('acme/logs')], mine('acme/data')), options)).toEqual({ claim: ['acme/logs'] });
  });

  it('waits while another App holds one of its volumes, and says which to stop', () => {
    const plan = planAppVolumes(app(['data', 'logs']), observed([row('acme/data'), row('acme/logs')], [{ volume: 'acme/logs', app: 'acme/other' }]), options);
    expect(plan).toMatchObject({ verdict: { unplaced: { reason: 'VolumeInUse' }, heldElsewhere: ['acme/logs'] } });
  });

  it('binds the unbound volumes where the bound ones live, or lets binding choose when none is bound', () => {
    expect(planAppVolumes(app(['data', 'logs']), observed([row('acme/data'), row('acme/logs', { node: null, size: 2 * Gi })]), options)).toEqual({
      bind: { volumes: ['acme/logs'], size: 2 * Gi, node: 'n1' },
    });
    expect(planAppVolumes(app(['data', 'logs']), observed([row('acme/data', { node: null }), row('acme/logs', { node: null })]), options)).toEqual({
      bind: { volumes: ['acme/data', 'acme/logs'], size: 2 * Gi },
    });
  });

  it('refuses volumes bound to different nodes: one instance cannot mount them all', () => {
    const plan = planAppVolumes(app(['data', 'logs']), observed([row('acme/data'), row('acme/logs', { node: 'n2' })]), options);
    expect(plan).toEqual({ verdict: { unplaced: { reason: 'VolumesOnDifferentNodes', message: 'its volumes live on different nodes (acme/data on n1, acme/logs on n2): one instance cannot mount them all' } } });
  });

  it('runs one instance of more replicas, reports a volume over its size, and a lost node with its latest backup', () => {
    const lostSince = new Date('2026-11-29T12:00:00Z');
    const plan = planAppVolumes(app(['data'], 3), observed([row('acme/data', { usage: 2 * Gi, nodeLostSince: lostSince, latestBackup: { id: 'b1', time: '2026-11-29T03:00:00Z' } })]), options);
    expect(plan).toEqual({
      verdict: {
        pinnedNode: 'n1',
        overSize: 'volume acme/data holds 2Gi, more than its spec.size 1Gi (the process runtime does not enforce sizes): grow spec.size or delete data; the tenant gets no new volume bound meanwhile',
        unplaced: { reason: 'VolumeSingleWriter', message: 'spec.replicas is 3, but its volume is single-writer (acme/data): at most 1 instance runs' },
        blocked: { reason: 'VolumeNodeLost', message: expect.stringContaining('restore the latest backup (b1') },
      },
    });
  });
});

describe('bindVerdict', () => {
  const step = { volumes: ['acme/data'], size: Gi };

  it('has nothing to say once bound: the plan is asked again', () => {
    expect(bindVerdict(step, { node: 'n1' })).toBeUndefined();
  });

  it('words what kept the volumes from binding', () => {
    expect(bindVerdict(step, { overSize: { key: 'acme/old', usage: 2 * Gi, size: Gi } })).toEqual({
      unplaced: { reason: 'SizeExceeded', message: 'volume acme/old holds 2Gi, more than its spec.size 1Gi (the process runtime does not enforce sizes): no new volume of this tenant is bound until it is back within its size' },
    });
    expect(bindVerdict(step, { quota: 'over' })).toEqual({ unplaced: { reason: 'QuotaExceeded', message: 'over' } });
    expect(bindVerdict(step, { message: '0/1 nodes can hold its volumes' })).toEqual({ unplaced: { reason: 'Unschedulable', message: '0/1 nodes can hold its volumes' } });
  });

  it('reports disk taken by another replica as contention when binding chose the node, not when the node was given', () => {
    expect(bindVerdict(step, { taken: true })).toBe(VOLUMES_CONTENDED);
    expect(VOLUMES_CONTENDED.contended).toBe(true);
    expect(bindVerdict({ ...step, node: 'n1' }, { taken: true })).toEqual({
      unplaced: { reason: 'Unschedulable', message: 'node n1, where its other volumes live, has not the free disk for acme/data' },
    });
  });
});
