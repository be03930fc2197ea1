/**
 * What an App's tenant allows this pass: no Tenant owns its namespace (reconcilers/no-tenant.ts:
 * a grace, then its instances stop), its Tenant is suspended (its instances stop now), or it runs.
 * Pure; controllers/app.ts writes the marks it asks for and plans the App held or not.
 */
import type { App } from '../api/types/app.js';
import type { Tenant } from '../api/types/tenant.js';
import type { AppInstance, TenantBlock } from './app.js';
import { noTenantVerdict } from './no-tenant.js';

export interface TenancyVerdict {
  /** The tenant holds the App: plan it held (reconcilers/app.ts AppEnv.tenantBlocked). */
  readonly block?: TenantBlock;
  /** Mark the running instances not marked yet as owned by no Tenant since now (no_tenant_since). */
  readonly mark: boolean;
  /** A Tenant owns the namespace (again): clear the marks, the instances are no longer on their way out. */
  readonly clear: boolean;
  /** The no-tenant grace ends then: look again no later. */
  readonly requeueAfterMs?: number;
}

/** The verdict on `app`, whose namespace `tenant` owns (undefined: no Tenant does). */
export function appTenancyVerdict(app: App, tenant: Tenant | undefined, instances: readonly AppInstance[], env: { readonly now: Date; readonly graceMs: number }): TenancyVerdict {
  if (!tenant) {
    // Counted against no quota: the instances keep serving for the grace period, then stop.
    const verdict = noTenantVerdict(app, instances, env);
    return { block: verdict.block, mark: verdict.mark, clear: false, ...(verdict.requeueAfterMs !== undefined ? { requeueAfterMs: verdict.requeueAfterMs } : {}) };
  }
  const clear = instances.some((i) => i.noTenantSince);
  if (tenant.spec?.suspended) {
    const block: TenantBlock = {
      reason: 'TenantSuspended',
      message: `tenant ${tenant.metadata.name} is suspended (spec.suspended): its instances are stopped and its routes answer 503; set spec.suspended to false to start them again`,
      stop: true,
    };
    return { block, mark: false, clear };
  }
  return { mark: false, clear };
}

/** The sooner of the held plan's requeue and the grace's end (undefined: neither asks). */
export function heldRequeueAfter(planned: number | undefined, verdict: TenancyVerdict): number | undefined {
  if (verdict.requeueAfterMs === undefined) return planned;
  return Math.min(verdict.requeueAfterMs, planned ?? verdict.requeueAfterMs);
}
