import type { NamedQuery } from '../framework/index.js';

/**
 * Writes the tenant row if it is missing or older, and only then: an unchanged row is not touched
 * (no new row version). Fenced: refused unless $6 is the current ownership epoch ($6 = 0: a
 * single replica without membership).
 */
export const upsertTenantRow: NamedQuery = {
  name: 'platform.tenant_upsert',
  text: `insert into platform.tenants as t (name, uid, generation, namespaces, created_at)
         select $1, $2, $3, $4::text[], $5
         where tend.fenced($6::bigint)
         on conflict (name) do update
           set uid = excluded.uid, generation = excluded.generation, namespaces = excluded.namespaces,
               writes = t.writes + 1, updated_at = now()
           where (t.uid <> excluded.uid or t.generation <= excluded.generation)
             and (t.uid, t.generation, t.namespaces) is distinct from (excluded.uid, excluded.generation, excluded.namespaces)
         returning writes`,
};

/** Removes the row of a deleted tenant (this incarnation only); fenced like the upsert. */
export const deleteTenantRow: NamedQuery = {
  name: 'platform.tenant_delete',
  text: `delete from platform.tenants
         where name = $1 and uid = $2
           and tend.fenced($3::bigint)`,
};

/**
 * What a reconcile observes of tenant $2 in one round trip instead of three: its row (uid,
 * generation, namespaces), its placed usage (app-queries tenantUsage) and the claims on namespaces $1
 * or under its name (namespace-claim-queries claimsOfTenant, earliest first). The claims' times
 * come as epoch milliseconds, the precision pg gives a Date. Measured by bench/reconcile.ts: each
 * reconcile's PostgreSQL round trips cost the replica more CPU (socket writes on loopback) than
 * the queries cost the server.
 */
export const observeTenant: NamedQuery = {
  name: 'platform.tenant_observe',
  text: `select
      (select json_build_object('uid', uid, 'generation', generation::int, 'namespaces', namespaces)
         from platform.tenants where name = $2) as row,
      (select json_build_object('memory', coalesce(sum(memory), 0)::float8, 'cpu', coalesce(sum(cpu), 0)::float8, 'instances', count(*)::int)
         from platform.instances where tenant = $2) as placed,
      (select coalesce(json_agg(json_build_object('namespace', namespace, 'tenant', tenant, 'tenantUid', tenant_uid,
                'claimedAt', (extract(epoch from claimed_at) * 1000)::float8) order by claimed_at, tenant), '[]'::json)
         from platform.namespace_claims where namespace = any($1::text[]) or tenant = $2) as claims`,
};
