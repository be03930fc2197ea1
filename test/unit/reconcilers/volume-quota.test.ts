import { describe, expect, it } from 'vitest';
import type { Tenant } from '../../../api/types/tenant.js';
import type { Volume } from '../../../api/types/volume.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { volumeQuotaOf, volumeQuotaVerdict } from '../../../reconcilers/volume-binding.js';
import { planVolume } from '../../../reconcilers/volume.js';

const Gi = 2 ** 30;
const now = new Date('2026-11-29T12:00:00Z');

describe('volumeQuotaVerdict', () => {
  it('admits volumes up to quota.volumes and says how many are bound beyond it', () => {
    expect(volumeQuotaVerdict('acme', { volumes: 2 }, { volumes: 1, storage: Gi }, { volumes: 1, storage: Gi })).toBeUndefined();
    expect(volumeQuotaVerdict('acme', { volumes: 2 }, { volumes: 2, storage: 2 * Gi }, { volumes: 1, storage: Gi })).toBe(
      "tenant acme's volume quota: 2 volumes allowed, 2 bound; not provisioned until one is deleted or the quota raised",
    );
  });

  it('admits storage up to quota.storage exactly, and not a byte more', () => {
    expect(volumeQuotaVerdict('acme', { storage: 3 * Gi }, { volumes: 1, storage: Gi }, { volumes: 1, storage: 2 * Gi })).toBeUndefined();
    expect(volumeQuotaVerdict('acme', { storage: 3 * Gi }, { volumes: 1, storage: Gi }, { volumes: 1, storage: 2 * Gi + 1 })).toBe(
      "tenant acme's storage quota: 3.0Gi allowed, 1.0Gi bound, 2.0Gi more would exceed it; not provisioned until space is freed or the quota raised",
    );
  });

  it('has no opinion without limits, and reads them from the Tenant', () => {
    expect(volumeQuotaVerdict('acme', {}, { volumes: 1e6, storage: 1e15 }, { volumes: 1, storage: Gi })).toBeUndefined();
    const tenant: Tenant = { apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: [], quota: { volumes: 5, storage: '20Gi', memory: '1Gi' } } };
    expect(volumeQuotaOf(tenant)).toEqual({ volumes: 5, storage: 20 * Gi });
  });
});

describe('planVolume over the quota', () => {
  const pinned: Volume = { apiVersion: 'tend.dev/v1alpha1', kind: 'Volume', metadata: { name: 'db', namespace: 'acme', uid: 'u1', generation: 1 }, spec: { size: '1Gi', node: 'n1' } };

  it('does not bind a pinned volume and says Bound=False QuotaExceeded; within it, binds it', () => {
    const over = planVolume(pinned, { row: undefined, tenant: 'acme', mountedBy: [], quotaExceeded: 'over' }, { now });
    expect(over.upsert).toMatchObject({ pinnedNode: null });
    expect(findCondition(over.status.conditions, 'Bound')).toMatchObject({ status: 'False', reason: 'QuotaExceeded', message: 'over' });
    expect(findCondition(over.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'QuotaExceeded' });
    expect(planVolume(pinned, { row: undefined, tenant: 'acme', mountedBy: [] }, { now }).upsert).toMatchObject({ pinnedNode: 'n1' });
  });
});
