-- The platform's own tables live in the `platform` schema, numbered in the same sequence as the
-- framework's (framework/store/migrations); `tend migrate` applies both folders together.
create schema if not exists platform;

-- One row per Tenant, written by the Tenant controller only when its spec (generation) or the
-- namespaces it was granted change. Later controllers join Apps and quota to it.
create table platform.tenants (
  name text primary key,
  -- A Tenant deleted and created again under the same name is a different tenant.
  uid text not null,
  generation bigint not null,
  -- The namespaces this tenant was granted (a namespace claimed by two tenants goes to the older).
  namespaces text[] not null,
  created_at timestamptz not null,
  -- Times the row was written: audits "written once per spec change" (tests and `tend why`).
  writes bigint not null default 1,
  updated_at timestamptz not null default now()
);

-- No secondary index yet: the only query is by primary key (platform.tenant_select). The
-- namespace → tenant lookup of the App controller adds a GIN index on namespaces with its query.
