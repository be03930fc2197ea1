/**
 * An App in a namespace that no Tenant owns (the Tenant dropped it from spec.namespaces): it counts
 * against no quota, so it may not keep running. Its instances keep serving for a grace period — a
 * namespace moved between Tenants in two edits must not go dark — then stop. When the App was
 * first seen so is kept on its instances in PostgreSQL (`no_tenant_since`), so the grace survives
 * replica restarts and every replica counts from the same moment. Pure.
 */
import type { App } from '../api/types/app.js';
import { rfc3339Seconds } from '../framework/index.js';
import type { AppInstance, TenantBlock } from './app.js';

export interface NoTenantVerdict {
  readonly block: TenantBlock;
  /** Some running instance carries no `no_tenant_since` yet: set it (now) on them. */
  readonly mark: boolean;
  /** Before the grace ends: look again then. */
  readonly requeueAfterMs?: number;
}

/** What an App whose namespace no Tenant owns does now, `graceMs` after that was first recorded. */
export function noTenantVerdict(app: App, instances: readonly AppInstance[], env: { readonly now: Date; readonly graceMs: number }): NoTenantVerdict {
  const namespace = app.metadata.namespace;
  const running = instances.filter((i) => i.desired === 'running');
  const marks = running.flatMap((i) => (i.noTenantSince ? [i.noTenantSince.getTime()] : []));
  const mark = marks.length < running.length;
  const claim = "add it to a Tenant's spec.namespaces";
  if (running.length === 0) {
    return { block: { reason: 'NoTenant', message: `namespace ${namespace} belongs to no Tenant: ${claim}`, stop: true }, mark: false };
  }
  // Instances not marked yet are being marked now: the earliest mark decides for all of them.
  const since = marks.length > 0 ? Math.min(...marks) : env.now.getTime();
  const deadline = since + env.graceMs;
  const sinceText = rfc3339Seconds(new Date(since));
  const grace = formatGrace(env.graceMs);
  if (env.now.getTime() >= deadline) {
    return {
      block: { reason: 'NoTenant', message: `namespace ${namespace} belongs to no Tenant since ${sinceText}: its instances are stopped (grace ${grace}); ${claim} to start them again`, stop: true },
      mark,
    };
  }
  return {
    block: {
      reason: 'NoTenant',
      message: `namespace ${namespace} belongs to no Tenant since ${sinceText}: its instances stop at ${rfc3339Seconds(new Date(deadline))} (grace ${grace}) unless you ${claim}`,
      stop: false,
    },
    mark,
    requeueAfterMs: Math.max(1, deadline - env.now.getTime()),
  };
}

/** 300000 → `5m`, 90000 → `90s`, 1500 → `1500ms`: as `--no-tenant-grace` takes it. */
function formatGrace(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
