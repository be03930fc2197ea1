-- Tenant usage is what is placed: the Tenant controller sums a tenant's instances in one query
-- (platform.tenant_usage) instead of multiplying specs, and learns that the sum moved from
-- LISTEN tend_tenant_usage (payload: the tenant's name).

-- Serves the per-tenant sums of the Tenant controller and of the scheduler's quota checks.
create index instances_tenant on platform.instances (tenant);

-- One notification per tenant and statement: a batch of a hundred placements wakes the tenant once.
-- (Transition tables allow one event per trigger, hence two triggers.)
create function platform.notify_tenant_usage_inserted() returns trigger language plpgsql as $$
begin
  perform pg_notify('tend_tenant_usage', t.tenant) from (select distinct tenant from inserted) t;
  return null;
end $$;
create trigger instances_tenant_usage_insert after insert on platform.instances
  referencing new table as inserted for each statement execute function platform.notify_tenant_usage_inserted();

create function platform.notify_tenant_usage_deleted() returns trigger language plpgsql as $$
begin
  perform pg_notify('tend_tenant_usage', t.tenant) from (select distinct tenant from deleted) t;
  return null;
end $$;
create trigger instances_tenant_usage_delete after delete on platform.instances
  referencing old table as deleted for each statement execute function platform.notify_tenant_usage_deleted();
