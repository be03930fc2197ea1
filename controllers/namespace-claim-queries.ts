import type { NamedQuery } from '../framework/index.js';

const columns = `namespace, tenant, tenant_uid as "tenantUid", claimed_at as "claimedAt"`;

/** The claims on namespaces $1 (text[]) and those under tenant name $2, earliest first. */
export const claimsOfTenant: NamedQuery = {
  name: 'platform.namespace_claims_of_tenant',
  text: `select ${columns} from platform.namespace_claims
         where namespace = any($1::text[]) or tenant = $2
         order by claimed_at, tenant`,
};

/** The claims on one namespace, earliest first: who owns it and who waits. */
export const claimsOfNamespace: NamedQuery = {
  name: 'platform.namespace_claims_of_namespace',
  text: `select ${columns} from platform.namespace_claims where namespace = $1 order by claimed_at, tenant`,
};

/**
 * Records tenant $2 (uid $3) as claiming namespaces $1 now, unless it already does; a claim of an
 * earlier incarnation (other uid) is made anew. One advisory lock serialises claims across
 * replicas, so a claim committed later always has a later time: an owner once seen stays the
 * owner. Fenced ($4; 0 = single replica without membership).
 */
export const insertClaims: NamedQuery = {
  name: 'platform.namespace_claims_insert',
  text: `with locked as (
           select pg_advisory_xact_lock(hashtextextended('platform.namespace_claims', 0))
           where tend.fenced($4::bigint)
         )
         insert into platform.namespace_claims as c (namespace, tenant, tenant_uid, claimed_at)
         select ns, $2, $3, clock_timestamp() from locked, unnest($1::text[]) as ns
         on conflict (namespace, tenant) do update set tenant_uid = excluded.tenant_uid, claimed_at = excluded.claimed_at
           where c.tenant_uid <> excluded.tenant_uid
         returning namespace`,
};

/** Gives up tenant $1's claims on namespaces $2 (text[]); fenced ($3). */
export const releaseClaims: NamedQuery = {
  name: 'platform.namespace_claims_release',
  text: `delete from platform.namespace_claims
         where tenant = $1 and namespace = any($2::text[])
           and tend.fenced($3::bigint)`,
};

/** Gives up every claim of a deleted tenant (this incarnation, uid $2, only); fenced ($3). */
export const releaseAllClaims: NamedQuery = {
  name: 'platform.namespace_claims_release_all',
  text: `delete from platform.namespace_claims
         where tenant = $1 and tenant_uid = $2
           and tend.fenced($3::bigint)`,
};

/** The claims on namespaces $1 (text[]), earliest first. */
export const claimsOfNamespaces: NamedQuery = {
  name: 'platform.namespace_claims_of_namespaces',
  text: `select ${columns} from platform.namespace_claims where namespace = any($1::text[]) order by claimed_at, tenant`,
};
