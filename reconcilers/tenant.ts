/**
 * The Tenant planner: desired Tenant × what the caches and PostgreSQL show → steps and status.
 * Pure: no I/O, time comes in through `env`. controllers/tenant.ts observes and executes.
 */
import { Quantity } from '../api/quantity.js';
import { formatQuantity } from '../api/quantity-format.js';
import type { App } from '../api/types/app.js';
import type { Tenant, TenantStatus, TenantUsage } from '../api/types/tenant.js';
import type { Volume } from '../api/types/volume.js';
import type { Route } from '../api/types/route.js';
import { type Condition, type ConditionUpdate, readySummary, setCondition } from '../framework/index.js';
import { hostnamesCondition } from './hostnames.js';
import { namespaceOwner, type NamespaceClaim } from './namespace-claims.js';

/** What PostgreSQL holds for the tenant (platform.tenants). */
export interface TenantRow {
  readonly generation: number;
  readonly namespaces: readonly string[];
}

export interface TenantObserved {
  /** Every Tenant in the cache that claims one of this tenant's namespaces (this one included or not). */
  readonly claimants: readonly Tenant[];
  /** The claims PostgreSQL records for this tenant's namespaces (platform.namespace_claims). */
  readonly claims: readonly NamespaceClaim[];
  /** Other Tenants whose allowedHostnames may overlap this one's. */
  readonly overlapping: readonly Tenant[];
  /** Apps, Routes and Volumes in the namespaces this tenant claims. */
  readonly apps: readonly App[];
  readonly routes: readonly Route[];
  readonly volumes: readonly Volume[];
  /** The row in PostgreSQL, if there is one. */
  readonly row: TenantRow | undefined;
  /** What the tenant's placed instances hold, summed in PostgreSQL (platform.tenant_usage). */
  readonly placed: PlacedUsage;
}

/** Σ over a tenant's placed instances: bytes, millicores, count. */
export interface PlacedUsage {
  readonly memory: number;
  readonly cpu: number;
  readonly instances: number;
}

export type TenantStep =
  | { readonly op: 'upsert-row'; readonly generation: number; readonly namespaces: readonly string[] }
  | { readonly op: 'delete-row' }
  /** The tenant is gone: its namespaces go to whoever claimed them next. */
  | { readonly op: 'release-claims' };

export interface TenantPlan {
  /** Empty when PostgreSQL already matches. */
  readonly steps: readonly TenantStep[];
  /** The status the object should have; written only if it differs. */
  readonly status: TenantStatus;
  /** During deletion: whether cleanup is complete and the finalizer may go. */
  readonly release: boolean;
}

/** Condition types of a Tenant, most fundamental first (Ready's precedence). */
export const TENANT_CONDITIONS = ['NamespacesClaimed', 'Active', 'WithinQuota'] as const;

/** Plans one Tenant. */
export function planTenant(tenant: Tenant, observed: TenantObserved, env: { readonly now: Date }): TenantPlan {
  const generation = tenant.metadata.generation ?? 0;
  const claimed = [...new Set(tenant.spec?.namespaces ?? [])].sort();
  const owners = new Map(claimed.map((ns) => [ns, ownerOf(ns, observed, tenant, env.now)]));
  const granted = claimed.filter((ns) => owners.get(ns) === tenant.metadata.name);
  const inGranted = <T extends { metadata: { namespace?: string } }>(list: readonly T[]) =>
    list.filter((o) => o.metadata.namespace !== undefined && granted.includes(o.metadata.namespace));
  const apps = inGranted(observed.apps);
  const routes = inGranted(observed.routes);
  const volumes = inGranted(observed.volumes);

  const updates: ConditionUpdate[] = [];
  if (tenant.metadata.deletionTimestamp) {
    const remaining = describeCounts([
      [apps.length, 'app'],
      [routes.length, 'route'],
      [volumes.length, 'volume'],
    ]);
    const left = apps.length + routes.length + volumes.length;
    if (left > 0) {
      const verb = left === 1 ? 'remains; delete it' : 'remain; delete them';
      updates.push({ type: 'Ready', status: 'False', reason: 'DeletionBlocked', message: `${remaining} ${verb} to delete the tenant` });
      return { steps: [], status: statusWith(tenant, updates, usageOf(apps, routes, volumes, observed.placed), env), release: false };
    }
    return { steps: [...(observed.row ? [{ op: 'delete-row' } as const] : []), { op: 'release-claims' }], status: tenant.status ?? {}, release: true };
  }

  const lost = claimed.filter((ns) => owners.get(ns) !== tenant.metadata.name);
  updates.push(
    lost.length === 0
      ? { type: 'NamespacesClaimed', status: 'True', reason: 'Claimed', message: claimed.length ? `owns ${listOf('namespace', claimed)}` : 'claims no namespaces' }
      : {
          type: 'NamespacesClaimed',
          status: 'False',
          reason: 'NamespaceConflict',
          message: lost.map((ns) => `namespace ${ns} belongs to tenant ${owners.get(ns)} (claimed first)`).join('; '),
        },
  );
  updates.push(
    tenant.spec?.suspended
      ? { type: 'Active', status: 'False', reason: 'Suspended', message: 'spec.suspended is true' }
      : { type: 'Active', status: 'True', reason: 'Active', message: '' },
  );
  updates.push(hostnamesCondition(tenant, observed.overlapping));
  const usage = usageOf(apps, routes, volumes, observed.placed);
  const over = overQuota(tenant, usage);
  // CPU is soft (instances are placed above it): its own reason, unless a hard limit is over too.
  const hardOver = over.some((o) => !o.startsWith('cpu:'));
  updates.push(
    over.length === 0
      ? { type: 'WithinQuota', status: 'True', reason: 'WithinQuota', message: '' }
      : { type: 'WithinQuota', status: 'False', reason: hardOver ? 'QuotaExceeded' : 'CPUQuotaExceeded', message: over.join('; ') },
  );

  const row = observed.row;
  const rowCurrent = row !== undefined && row.generation === generation && row.namespaces.join() === granted.join();
  // A row written from a newer generation than our cache shows is newer than us: leave it.
  const rowNewer = row !== undefined && row.generation > generation;
  const steps: TenantStep[] = rowCurrent || rowNewer ? [] : [{ op: 'upsert-row', generation, namespaces: granted }];
  return { steps, status: statusWith(tenant, updates, usage, env), release: false };
}

/**
 * The tenant that owns `namespace`: the first claim recorded in PostgreSQL (reconcilers/namespace-claims.ts).
 * Our own claim not recorded yet (the controller records it before planning) counts as made now.
 */
function ownerOf(namespace: string, observed: TenantObserved, self: Tenant, now: Date): string | undefined {
  const known = new Map([...observed.claimants, self].map((t) => [t.metadata.name, t]));
  const uid = self.metadata.uid ?? '';
  const recorded = observed.claims.some((c) => c.namespace === namespace && c.tenant === self.metadata.name && c.tenantUid === uid);
  const claims = recorded ? observed.claims : [...observed.claims, { namespace, tenant: self.metadata.name, tenantUid: uid, claimedAt: now }];
  return namespaceOwner(namespace, claims, (name) => known.get(name))?.metadata.name;
}

function statusWith(tenant: Tenant, updates: readonly ConditionUpdate[], usage: TenantUsage, env: { now: Date }): TenantStatus {
  const generation = tenant.metadata.generation ?? 0;
  let conditions: Condition[] = tenant.status?.conditions ?? [];
  for (const update of updates) conditions = setCondition(conditions, update, { now: env.now, generation }).conditions;
  if (!updates.some((u) => u.type === 'Ready')) {
    const ready = readySummary(conditions, { dependsOn: TENANT_CONDITIONS });
    conditions = setCondition(conditions, { type: 'Ready', ...ready }, { now: env.now, generation }).conditions;
  }
  return { usage, conditions, observedGeneration: generation };
}

/**
 * Usage: what is placed (memory, CPU, instances, from PostgreSQL) and how many Apps, Routes and
 * Volumes there are. Arithmetic only: nothing here grows with a number in a spec.
 */
function usageOf(apps: readonly App[], routes: readonly Route[], volumes: readonly Volume[], placed: PlacedUsage): TenantUsage {
  let storage = Quantity.parse(0);
  for (const volume of volumes) storage = storage.add(Quantity.tryParse(volume.spec?.size ?? 0) ?? Quantity.parse(0));
  return {
    memory: formatQuantity(Quantity.parse(placed.memory), 'binary'),
    cpu: formatQuantity(Quantity.parse(`${placed.cpu}m`), 'decimal'),
    instances: placed.instances,
    apps: apps.length,
    volumes: volumes.length,
    storage: formatQuantity(storage, 'binary'),
    routes: routes.length,
  };
}

function overQuota(tenant: Tenant, usage: TenantUsage): string[] {
  const quota = tenant.spec?.quota ?? {};
  const over: string[] = [];
  if (quota.apps !== undefined && (usage.apps ?? 0) > quota.apps) over.push(`apps: ${usage.apps} of ${quota.apps}`);
  if (quota.instances !== undefined && (usage.instances ?? 0) > quota.instances) over.push(`instances: ${usage.instances} of ${quota.instances}`);
  if (quota.volumes !== undefined && (usage.volumes ?? 0) > quota.volumes) over.push(`volumes: ${usage.volumes} of ${quota.volumes}`);
  if (quota.routes !== undefined && (usage.routes ?? 0) > quota.routes) over.push(`routes: ${usage.routes} of ${quota.routes}`);
  for (const field of ['memory', 'cpu', 'storage'] as const) {
    const limit = quota[field] === undefined ? undefined : Quantity.tryParse(quota[field]!);
    if (limit && Quantity.parse(usage[field] ?? 0).isGreaterThan(limit)) over.push(`${field}: ${usage[field]} of ${quota[field]}`);
  }
  return over;
}

function describeCounts(counts: readonly (readonly [number, string])[]): string {
  return counts
    .filter(([n]) => n > 0)
    .map(([n, noun]) => `${n} ${noun}${n === 1 ? '' : 's'}`)
    .join(', ');
}

function listOf(noun: string, items: readonly string[]): string {
  return `${noun}${items.length === 1 ? '' : 's'} ${items.join(', ')}`;
}
