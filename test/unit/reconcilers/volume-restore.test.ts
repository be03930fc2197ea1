import { describe, expect, it } from 'vitest';
import type { Volume } from '../../../api/types/volume.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { planVolume, restoreToResolve, type VolumeObserved, type VolumeRow } from '../../../reconcilers/volume.js';
import { backupKeyOf, resolveRestore } from '../../../reconcilers/volume-restore.js';

const now = new Date('2026-11-30T12:00:00Z');

function volume(spec: Partial<NonNullable<Volume['spec']>> = {}, metadata: Partial<Volume['metadata']> = {}): Volume {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'Volume', metadata: { name: 'db', namespace: 'shop', uid: 'u1', generation: 1, ...metadata }, spec: { size: '1Gi', ...spec } };
}

function row(extra: Partial<VolumeRow> = {}): VolumeRow {
  return {
    uid: 'u1', tenant: 'acme', size: 2 ** 30, restoreFrom: null, backupSchedule: null, backupRetain: 7, backupRequest: null, backupKey: 'acme/u1',
    node: 'n1', boundAt: now, desired: 'present', phase: 'ready', message: null, usage: 0, backups: [], lastBackupAt: null, ...extra,
  };
}

const observed = (extra: Partial<VolumeObserved> = {}): VolumeObserved => ({ row: undefined, tenant: 'acme', mountedBy: [], ...extra });

describe('resolveRestore', () => {
  it('takes the live source first, then the newest kept backups, of this tenant only', () => {
    const live = { storeKey: 'acme/u-live', tenant: 'acme' };
    const released = [{ storeKey: 'beta/u-2', tenant: 'beta' }, { storeKey: 'acme/u-1', tenant: 'acme' }];
    expect(resolveRestore('shop/data', 'acme', live, released)).toEqual({ storeKey: 'acme/u-live' });
    expect(resolveRestore('shop/data', 'acme', undefined, released)).toEqual({ storeKey: 'acme/u-1' });
  });

  it('refuses a source whose backups only another tenant made, and knows none when nobody has any', () => {
    expect(resolveRestore('shop/data', 'beta', undefined, [{ storeKey: 'acme/u-1', tenant: 'acme' }])).toEqual({
      refused: 'the backups of volume shop/data were made by another tenant: restoreFrom only restores backups of this tenant (beta)',
    });
    expect(resolveRestore('shop/data', 'beta', undefined, [])).toEqual({ storeKey: null });
  });
});

describe('planVolume and backups', () => {
  it('keys a new volume\'s backups by tenant and uid, and keeps the key of a row that has one', () => {
    expect(planVolume(volume(), observed(), { now }).upsert?.backupKey).toBe(backupKeyOf('acme', 'u1'));
    expect(planVolume(volume(), observed({ row: row({ backupKey: 'shop/db' }) }), { now }).upsert).toBeUndefined();
  });

  it('restores from the key resolved, once: a row that carries restoreFrom is not resolved again', () => {
    const v = volume({ restoreFrom: { volume: 'data' } });
    expect(restoreToResolve(v, undefined)).toBe(true);
    const plan = planVolume(v, observed({ restoreSource: { storeKey: 'acme/u0' } }), { now });
    expect(plan.upsert?.restoreFrom).toEqual({ volume: 'shop/data', backup: null, source: 'acme/u0' });
    const written = row({ restoreFrom: plan.upsert!.restoreFrom });
    expect(restoreToResolve(v, written)).toBe(false);
    expect(planVolume(v, observed({ row: written }), { now }).upsert).toBeUndefined();
  });

  it('refuses another tenant\'s backups: Bound=False RestoreNotAllowed, and no row, so nothing starts empty', () => {
    const refused = 'the backups of volume shop/data were made by another tenant: restoreFrom only restores backups of this tenant (beta)';
    const plan = planVolume(volume({ restoreFrom: { volume: 'data' } }), observed({ tenant: 'beta', restoreSource: { refused } }), { now });
    expect(plan.upsert).toBeUndefined();
    expect(findCondition(plan.status.conditions, 'Bound')).toMatchObject({ status: 'False', reason: 'RestoreNotAllowed', message: `spec.restoreFrom: ${refused}; the volume is not created` });
    expect(findCondition(plan.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'RestoreNotAllowed' });
  });

  it('releases the backups of a removed volume, and of a volume whose namespace went to another tenant', () => {
    const gone = planVolume(volume({}, { deletionTimestamp: '2026-11-30T11:00:00Z' }), observed({ row: row({ phase: 'deleted', desired: 'deleted' }) }), { now });
    expect(gone).toMatchObject({ deletion: 'remove-row', releaseBackups: { storeKey: 'acme/u1', tenant: 'acme', uid: 'u1', node: 'n1' } });
    const handed = planVolume(volume(), observed({ tenant: 'beta', row: row() }), { now });
    expect(handed.releaseBackups).toEqual({ storeKey: 'acme/u1', tenant: 'acme', uid: 'u1', node: 'n1' });
    expect(handed.upsert).toMatchObject({ tenant: 'beta', backupKey: 'beta/u1' });
    expect(planVolume(volume(), observed({ row: row() }), { now }).releaseBackups).toBeUndefined();
  });
});
