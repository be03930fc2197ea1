-- Rate limits shared across edges (issue 19 §2). A Route's spec.rateLimit (or its tenant's
-- spec.defaultRateLimit) is a limit for all edges together, not for each: the edges find each
-- other here and each admits its share. Nothing here is read or written per request: an edge
-- heartbeats once a period with what it saw, and reads what the others saw.

-- The limit in force for a host + prefix, resolved by the Route controller:
-- {"requestsPerSecond": 100, "burst": 100}; null: unlimited.
alter table platform.routing add column rate_limit jsonb;

-- The edge (its enrolled name) a login role is, null for any other role and once revoked; like
-- platform.node_of_role. Called with current_user inside a scalar subquery (once per statement).
create function platform.edge_of_role(login name) returns text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select i.name from platform.identities i where i.kind = 'edge' and i.role = $1::text and i.revoked_at is null
$$;

-- One row per running edge process (a worker of an edge is a process of its own), renewed every
-- heartbeat (1 s by default) and live until expires_at by the database's clock: a process killed
-- with SIGKILL stops counting once its row expires, one that stops gracefully deletes its row. The
-- controllers' tend.members is not reused: its members share the controllers' keys and fence
-- their writes by its view, and an edge login must not be able to join that.
create table platform.edge_members (
  id bigint generated always as identity primary key,
  -- The enrolled edge the process runs as (its login's name), or the role's own name for a
  -- connection that is not an edge login (tend up without CREATEROLE, --database-url).
  edge text not null default coalesce(platform.edge_of_role(current_user), current_user::text),
  -- For people: host, pid and worker of the process.
  name text not null check (length(name) <= 255),
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  expires_at timestamptz not null,
  -- What the process was asked, per rate-limited Route, over its last heartbeat period, in
  -- requests per second: {"ns/route": 123.4}. Bounded in size (agents/edge/edge-membership.ts
  -- publishes at most 2,000 Routes), so a member row stays small whatever the table holds.
  demand jsonb not null default '{}' check (pg_column_size(demand) <= 262144)
);
create index edge_members_expires_at on platform.edge_members (expires_at);

-- An edge's login joins, renews, reads everyone's demand and leaves; it writes only the rows of
-- its own edge (row-level security), and may remove any row long expired (housekeeping).
select platform.grant_to('edge', 'select', 'platform.edge_members');
select platform.grant_to('edge', 'insert', 'platform.edge_members', array['name', 'expires_at', 'demand']);
select platform.grant_to('edge', 'update', 'platform.edge_members', array['heartbeat_at', 'expires_at', 'demand']);
select platform.grant_to('edge', 'delete', 'platform.edge_members');

alter table platform.edge_members enable row level security;
create policy controllers on platform.edge_members using ((select platform.is_controller(current_user)));
create policy edges_read on platform.edge_members for select using (true);
create policy own_edge_insert on platform.edge_members for insert with check (edge = (select platform.edge_of_role(current_user)));
create policy own_edge_update on platform.edge_members for update
  using (edge = (select platform.edge_of_role(current_user))) with check (edge = (select platform.edge_of_role(current_user)));
create policy own_edge_delete on platform.edge_members for delete
  using (edge = (select platform.edge_of_role(current_user)) or expires_at < now() - interval '10 minutes');
