-- Namespace claims: a namespace goes to the tenant that claimed it first, by the time recorded
-- here, not to the oldest Tenant object (an older Tenant that adds `shop` later must not take it,
-- and its volumes, from the tenant using it). One row per namespace and tenant: written when the
-- Tenant first lists the namespace (insert … on conflict, under one advisory lock so claim times
-- follow commit order across replicas), removed when it stops listing it or is deleted. The owner
-- is the earliest claim whose Tenant still exists and lists it; later claimants wait their turn.
create table platform.namespace_claims (
  namespace text not null,
  tenant text not null,
  -- A Tenant deleted and created again under the same name claims anew.
  tenant_uid text not null,
  claimed_at timestamptz not null,
  primary key (namespace, tenant)
);
create index namespace_claims_tenant on platform.namespace_claims (tenant);

-- Existing ownership carries over: each tenant's granted namespaces, claimed when it was created.
insert into platform.namespace_claims (namespace, tenant, tenant_uid, claimed_at)
select distinct on (ns) ns, t.name, t.uid, t.created_at
from platform.tenants t, unnest(t.namespaces) as ns
order by ns, t.created_at, t.name
on conflict do nothing;
