import type { NamedQuery } from '../framework/index.js';

/** What PostgreSQL holds for one tenant. */
export const selectTenantRow: NamedQuery = {
  name: 'platform.tenant_select',
  text: 'select uid, generation::int as generation, namespaces from platform.tenants where name = $1',
};

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
