-- Host claims: a host belongs to one tenant with all its path prefixes, the one that claimed it
-- first. One row per host and Route: written when the Route's tenant may serve the host (its
-- allowedHostnames, and no other tenant's entry is more specific), under one advisory lock so
-- claim times follow commit order across replicas; removed when the Route is deleted or moves to
-- another host. A tenant's later Routes on a host take its earliest claim time, so its place in
-- line outlives the Route that made it. Claims whose Route or tenant no longer fits are passed over.
create table platform.host_claims (
  host text not null,
  route text not null,          -- namespace/name
  route_uid text not null,      -- a Route deleted and created again claims anew
  tenant text not null,
  claimed_at timestamptz not null,
  primary key (host, route)
);
create index host_claims_route on platform.host_claims (route);

-- Existing routes keep their hosts: each row served now claims its host for the tenant that owns
-- the Route's namespace, at the time it was last written (no earlier record exists). Route uids
-- are unknown here: the Route controller's first reconcile claims anew and keeps that time.
insert into platform.host_claims (host, route, route_uid, tenant, claimed_at)
select distinct on (r.host, r.route) r.host, r.route, '', c.tenant, r.updated_at
from platform.routing r
join lateral (select tenant from platform.namespace_claims nc
              where nc.namespace = split_part(r.route, '/', 1) order by nc.claimed_at, nc.tenant limit 1) c on true
order by r.host, r.route, r.updated_at
on conflict do nothing;
