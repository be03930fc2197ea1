-- Node identity and least privilege: every node agent and edge connects as a login role of its own,
-- and PostgreSQL itself (grants + row-level security) decides what that connection may see and do.
-- A node's credentials let it heartbeat its own node, read the instances and volumes placed on it
-- and write only their observed columns; an edge's let it read the routing table. Controllers
-- connect as the owner of these tables (the role that ran the migrations, unaffected by row-level
-- security) or as a member of the controllers group role.
--
-- Roles live in the whole server, databases do not: each database's roles start with a prefix of
-- its own (its name, or a hash of a long one), so several tend databases on one server (tests,
-- staging) never share a role.
--   <prefix>_controllers      group: full access to tend's tables, may enroll and revoke
--   <prefix>_node_agent       group of every node login
--   <prefix>_edge             group of every edge login
--   <prefix>_node_<md5>       one login per node   (md5 of the Node's name, 16 hex digits)
--   <prefix>_edge_<md5>       one login per edge
--
-- Creating roles needs CREATEROLE (or superuser) for the role running the migrations. Without it
-- this migration still applies — the tables, functions and policies are created, the group roles
-- are not — and every enrollment says what is missing; the controllers keep working as the owner.
--
-- Later migrations that add a column an agent or the edge writes grant it with
--   select platform.grant_to('node_agent', 'update', 'platform.instances', array['new_column']);
-- (see platform.grant_to below): the grant is recorded, so it is also applied to group roles made
-- later, and re-applied when they are.

create table platform.identity_config (
  id boolean primary key default true check (id),
  role_prefix text not null
);
insert into platform.identity_config (role_prefix)
select case when current_database() ~ '^[a-z_][a-z0-9_]{0,39}$' then current_database()
            else 'tend_' || left(md5(current_database()), 12) end;

-- One row per enrolled node or edge: its login role, and when it was revoked (decommission).
create table platform.identities (
  kind text not null check (kind in ('node', 'edge')),
  name text not null,
  role text not null unique,
  enrolled_at timestamptz not null default now(),
  revoked_at timestamptz,
  primary key (kind, name)
);

-- What each group role is granted, one row per privilege and column ('' = the whole table).
create table platform.role_grants (
  role_kind text not null check (role_kind in ('controllers', 'node_agent', 'edge')),
  privilege text not null check (privilege in ('select', 'insert', 'update', 'delete')),
  table_name text not null,
  column_name text not null default '',
  primary key (role_kind, privilege, table_name, column_name)
);

-- The group role of a kind ('controllers', 'node_agent', 'edge') in this database.
create function platform.group_role(kind text) returns text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select c.role_prefix || '_' || kind from platform.identity_config c
$$;

-- The login role of a node or edge ('node' | 'edge', its name) in this database.
create function platform.login_role(kind text, name text) returns text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select c.role_prefix || '_' || kind || '_' || left(md5(name), 16) from platform.identity_config c
$$;

-- The Node a login role is (null for any other role, and once revoked). The policies below call it
-- with current_user, inside a scalar subquery so it runs once per statement, not once per row.
create function platform.node_of_role(login name) returns text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select i.name from platform.identities i where i.kind = 'node' and i.role = $1::text and i.revoked_at is null
$$;

-- True for members of the controllers group role (false when it does not exist).
create function platform.is_controller(login name) returns boolean
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select case when exists (select 1 from pg_roles g where g.rolname = platform.group_role('controllers'))
              then pg_has_role($1, platform.group_role('controllers'), 'usage') else false end
$$;

-- Applies one role's recorded grants (when the role exists). Identifiers are quoted by format().
create function platform.apply_grants(kind text) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  g record;
  role text := platform.group_role(kind);
begin
  if not exists (select 1 from pg_roles where rolname = role) then
    return;
  end if;
  for g in
    select privilege, table_name, array_agg(column_name order by column_name) filter (where column_name <> '') as columns,
           bool_or(column_name = '') as whole
    from platform.role_grants where role_kind = kind group by privilege, table_name
  loop
    if g.whole then
      execute format('grant %s on table %s to %I', g.privilege, g.table_name::regclass, role);
    end if;
    if g.columns is not null then
      execute format('grant %s (%s) on table %s to %I', g.privilege,
                     (select string_agg(quote_ident(c), ', ') from unnest(g.columns) c), g.table_name::regclass, role);
    end if;
  end loop;
end $$;

-- Records a grant to a group role and applies it. `columns` null: the whole table.
create function platform.grant_to(kind text, privilege text, table_name text, columns text[] default null) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  insert into platform.role_grants (role_kind, privilege, table_name, column_name)
  select kind, privilege, table_name, c from unnest(coalesce(columns, array[''])) c
  on conflict do nothing;
  perform platform.apply_grants(kind);
end $$;

-- Creates the group roles when missing and applies their grants; false when the role running it
-- may not create roles. Safe to call again (enrollment calls it every time).
create function platform.ensure_roles() returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  kind text;
  role text;
begin
  if not exists (select 1 from pg_roles where rolname = current_user and (rolsuper or rolcreaterole)) then
    return false;
  end if;
  foreach kind in array array['controllers', 'node_agent', 'edge'] loop
    role := platform.group_role(kind);
    if not exists (select 1 from pg_roles where rolname = role) then
      execute format('create role %I nologin', role);
    end if;
    execute format('grant usage on schema platform to %I', role);
    perform platform.apply_grants(kind);
  end loop;
  role := platform.group_role('controllers');
  execute format('grant usage on schema tend to %I', role);
  execute format('grant select, insert, update, delete on all tables in schema platform, tend to %I', role);
  execute format('grant usage, select on all sequences in schema platform, tend to %I', role);
  -- Tables of later migrations, made by this same role, are the controllers' too.
  execute format('alter default privileges in schema platform, tend grant select, insert, update, delete on tables to %I', role);
  execute format('alter default privileges in schema platform, tend grant usage, select on sequences to %I', role);
  execute format('grant execute on function platform.enroll(text, text, text), platform.revoke_identity(text, text), platform.forget_identity(text, text) to %I', role);
  return true;
end $$;

-- Gives a node or edge its login, with a SCRAM-SHA-256 verifier made by the caller (never the
-- password: it would reach the server's logs in clear); a second enrollment rotates the password
-- and lifts a revocation. Returns the login role's name.
create function platform.enroll(kind text, name text, verifier text) returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  login text;
begin
  if kind is null or kind not in ('node', 'edge') then
    raise exception 'enroll: kind must be node or edge, got %', coalesce(kind, 'null') using errcode = '22023';
  end if;
  if name is null or name !~ '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$' then
    raise exception 'enroll: % name must be a DNS subdomain (lower-case letters, digits, - and .), got %', kind, coalesce(name, 'null') using errcode = '22023';
  end if;
  if verifier is null or verifier !~ '^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$' then
    raise exception 'enroll: the password must be given as a SCRAM-SHA-256 verifier, never in clear' using errcode = '22023';
  end if;
  if not platform.ensure_roles() then
    raise exception 'enroll: % may not create roles; grant it CREATEROLE (it runs the migrations and owns tend''s tables)', current_user
      using errcode = '42501';
  end if;
  login := platform.login_role(kind, name);
  if exists (select 1 from pg_roles where rolname = login) then
    execute format('alter role %I login password %L', login, verifier);
  else
    -- A connection limit bounds what stolen credentials can hold open (an agent uses about 4).
    execute format('create role %I login connection limit 16 password %L in role %I', login, verifier,
                   platform.group_role(case kind when 'node' then 'node_agent' else 'edge' end));
  end if;
  insert into platform.identities (kind, name, role) values (kind, name, login)
  on conflict on constraint identities_pkey do update set role = excluded.role, enrolled_at = now(), revoked_at = null;
  return login;
end $$;

-- Ends a node's or edge's access: its login may no longer connect, its open sessions end, and the
-- policies stop matching it at once (node_of_role ignores revoked rows). True when this call
-- revoked it; false when it was revoked already or never enrolled (steady state writes nothing).
create function platform.revoke_identity(kind text, name text) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  login text;
begin
  update platform.identities i set revoked_at = now()
  where i.kind = revoke_identity.kind and i.name = revoke_identity.name and i.revoked_at is null
  returning i.role into login;
  if login is null then
    return false;
  end if;
  if exists (select 1 from pg_roles where rolname = login) then
    execute format('alter role %I nologin', login);
  end if;
  begin
    perform pg_terminate_backend(a.pid) from pg_stat_activity a where a.usename = login;
  exception when insufficient_privilege then
    -- Not allowed to signal its sessions: they stay open but see and change nothing any more.
    null;
  end;
  return true;
end $$;

-- Removes a node's or edge's login for good (its Node was deleted). True when there was one.
create function platform.forget_identity(kind text, name text) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  login text;
begin
  perform platform.revoke_identity(kind, name);
  delete from platform.identities i where i.kind = forget_identity.kind and i.name = forget_identity.name
  returning i.role into login;
  if login is null then
    return false;
  end if;
  execute format('drop role if exists %I', login);
  return true;
end $$;

-- Everyone may execute a new function by default: these must be the owner's and the controllers'.
revoke execute on function platform.enroll(text, text, text), platform.revoke_identity(text, text),
  platform.forget_identity(text, text), platform.ensure_roles(), platform.grant_to(text, text, text, text[]),
  platform.apply_grants(text) from public;

-- What the node agent writes (agents/node/queries.ts, agents/node/volume-queries.ts) and reads.
select platform.grant_to('node_agent', 'select', 'platform.node_agents');
select platform.grant_to('node_agent', 'insert', 'platform.node_agents',
  array['node', 'heartbeat_at', 'started_at', 'capacity_cpu', 'capacity_memory', 'capacity_disk', 'memory_enforcement']);
select platform.grant_to('node_agent', 'update', 'platform.node_agents',
  array['heartbeat_at', 'started_at', 'capacity_cpu', 'capacity_memory', 'capacity_disk', 'memory_enforcement']);
select platform.grant_to('node_agent', 'select', 'platform.instances');
select platform.grant_to('node_agent', 'update', 'platform.instances',
  array['port', 'phase', 'ready', 'restarts', 'last_exit', 'observed_at']);
select platform.grant_to('node_agent', 'select', 'platform.volumes');
select platform.grant_to('node_agent', 'update', 'platform.volumes',
  array['phase', 'message', 'usage', 'backups', 'last_backup_at', 'backup_request_done', 'observed_at']);
-- What the edge reads (agents/edge/queries.ts); it writes nothing.
select platform.grant_to('edge', 'select', 'platform.routing');
select platform.grant_to('edge', 'select', 'platform.routing_version');

-- Rows: a node's connection sees and changes only what concerns its own node. The table owner
-- (the controllers' usual role) is not subject to these policies; members of the controllers
-- group role pass the first policy of each table.
alter table platform.node_agents enable row level security;
create policy controllers on platform.node_agents using ((select platform.is_controller(current_user)));
create policy own_node_read on platform.node_agents for select using (node = (select platform.node_of_role(current_user)));
create policy own_node_insert on platform.node_agents for insert with check (node = (select platform.node_of_role(current_user)));
create policy own_node_update on platform.node_agents for update
  using (node = (select platform.node_of_role(current_user))) with check (node = (select platform.node_of_role(current_user)));

alter table platform.instances enable row level security;
create policy controllers on platform.instances using ((select platform.is_controller(current_user)));
create policy own_node_read on platform.instances for select using (node = (select platform.node_of_role(current_user)));
create policy own_node_update on platform.instances for update
  using (node = (select platform.node_of_role(current_user))) with check (node = (select platform.node_of_role(current_user)));

alter table platform.volumes enable row level security;
create policy controllers on platform.volumes using ((select platform.is_controller(current_user)));
create policy own_node_read on platform.volumes for select using (node = (select platform.node_of_role(current_user)));
create policy own_node_update on platform.volumes for update
  using (node = (select platform.node_of_role(current_user))) with check (node = (select platform.node_of_role(current_user)));

select platform.ensure_roles();
