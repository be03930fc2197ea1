-- Tenancy promises kept in PostgreSQL, so every replica (and a restarted one) sees the same.

-- A suspended tenant's routes stay in the table, marked: the edge answers 503 "service suspended"
-- for them instead of 404 (the host is still the tenant's) or a backend.
alter table platform.routing add column suspended boolean not null default false;

-- When the App controller first found the instance's namespace owned by no Tenant; cleared when a
-- Tenant claims it again. The instance is stopped once this is older than `tend run
-- --no-tenant-grace` (default 5m): the clock is the database's, so a restart does not reset it.
alter table platform.instances add column no_tenant_since timestamptz;
