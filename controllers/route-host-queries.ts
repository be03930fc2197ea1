import type { NamedQuery } from '../framework/index.js';

/** The claims on host $1 and those of Route $2 on any host (platform.host_claims), earliest first. */
export const hostClaims: NamedQuery = {
  name: 'platform.host_claims_select',
  text: `select host, route, route_uid as "routeUid", tenant, claimed_at as "claimedAt" from platform.host_claims
         where host = $1 or route = $2 order by claimed_at, route`,
};

/** Serialises claims across replicas (taken first in the claim's transaction): a later commit has a later time. */
export const lockHostClaims: NamedQuery = {
  name: 'platform.host_claims_lock',
  text: `select pg_advisory_xact_lock(hashtextextended('platform.host_claims', 0))`,
};

/**
 * Route $2 (uid $3) claims host $1 for tenant $4, unless it already does. A tenant that already
 * claims the host (through another Route, or a row carried over by migration 000016) keeps its
 * place: the claim takes that earliest time.
 * Run after lockHostClaims in one transaction, so the time read and the time written are the
 * latest. Fenced ($5).
 */
export const insertHostClaim: NamedQuery = {
  name: 'platform.host_claims_insert',
  text: `insert into platform.host_claims as c (host, route, route_uid, tenant, claimed_at)
         select $1, $2, $3, $4,
                coalesce((select min(o.claimed_at) from platform.host_claims o where o.host = $1 and o.tenant = $4), clock_timestamp())
         where tend.fenced($5::bigint)
         on conflict (host, route) do update
           set route_uid = excluded.route_uid, tenant = excluded.tenant, claimed_at = excluded.claimed_at
           where (c.route_uid, c.tenant) is distinct from (excluded.route_uid, excluded.tenant)`,
};

/** Route $2 gives up its claim on host $1; fenced ($3). */
export const releaseHostClaim: NamedQuery = {
  name: 'platform.host_claims_release',
  text: `delete from platform.host_claims where host = $1 and route = $2 and tend.fenced($3::bigint)`,
};
