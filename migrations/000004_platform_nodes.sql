-- Worker nodes and the instances placed on them.

-- One row per Node, written by the Node controller from the Node's spec (and the agent's report).
-- The scheduler locks the rows of the nodes it places on (`for update`), which serialises
-- placements per node across every controller replica: memory is never overbooked.
create table platform.nodes (
  name text primary key,
  uid text not null,
  generation bigint not null,
  address text,
  labels jsonb not null default '{}',
  -- ready | cordoned | draining | decommissioned: what the spec says. Liveness comes from
  -- platform.node_agents and is judged at read time.
  state text not null,
  -- What may be placed here: capacity − reserved − safety buffer (memory, bytes) and
  -- capacity × cpuOvercommitRatio − reserved (CPU, millicores).
  allocatable_memory bigint not null,
  allocatable_cpu bigint not null,
  -- Set by the Node controller when it declares the node lost (the agent's last heartbeat),
  -- cleared when the agent is back: every App judges its instances there by the same verdict.
  lost_since timestamptz,
  -- When the node started draining, and how long replacements may take before the instances
  -- left there are stopped anyway (Node spec.drain.deadlineSeconds).
  draining_since timestamptz,
  drain_deadline_seconds integer,
  updated_at timestamptz not null default now()
);

-- The agents' side, written only by `tend agent`: heartbeats and what the machine really has.
-- Kept apart from platform.nodes so a heartbeat never touches the row the scheduler locks.
create table platform.node_agents (
  node text primary key,
  heartbeat_at timestamptz not null,
  started_at timestamptz not null,
  capacity_cpu bigint not null,     -- millicores
  capacity_memory bigint not null,  -- bytes
  capacity_disk bigint not null,    -- bytes
  memory_enforcement text not null  -- cgroup | rss-polling
);

-- Every instance the scheduler placed. The controller owns the desired columns, the node's
-- agent the observed ones; a row exists from placement until the agent has stopped it and the
-- App controller removed it.
create table platform.instances (
  id text primary key,
  app text not null,                -- namespace/name
  tenant text not null,
  revision text not null,
  node text not null references platform.nodes (name),
  memory bigint not null,           -- bytes, hard limit
  cpu bigint not null,              -- millicores, soft
  spec jsonb not null,              -- command, env, port, health check, volumes
  desired text not null default 'running' check (desired in ('running', 'stopped')),
  created_at timestamptz not null default now(),
  -- Observed, written by the agent:
  phase text,                       -- starting | running | backoff | stopping | stopped
  ready boolean not null default false,
  port integer,
  restarts integer not null default 0,
  last_exit jsonb,
  observed_at timestamptz
);

-- Serves platform.instances_of_node (the agent's full read) and the scheduler's allocation sums.
create index instances_node on platform.instances (node);
-- Serves platform.instances_of_app (the App controller's observe step).
create index instances_app on platform.instances (app);

-- Wake the controllers that care (LISTEN tend_instances): payload "namespace/app node".
create function platform.notify_instance_change() returns trigger language plpgsql as $$
begin
  perform pg_notify('tend_instances', coalesce(new.app, old.app) || ' ' || coalesce(new.node, old.node));
  return null;
end $$;
create trigger instances_notify after insert or update or delete on platform.instances
  for each row execute function platform.notify_instance_change();

-- Wake the Node controller when an agent appears or comes back after a gap (LISTEN tend_nodes;
-- payload: the node's name). Ordinary heartbeats notify nobody: they change nothing to report.
create function platform.notify_agent_change() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' or new.started_at <> old.started_at or new.heartbeat_at - old.heartbeat_at > interval '10 seconds' then
    perform pg_notify('tend_nodes', new.node);
  end if;
  return null;
end $$;
create trigger node_agents_notify after insert or update on platform.node_agents
  for each row execute function platform.notify_agent_change();

-- A node that starts draining, is cordoned, or is lost/back concerns the Apps with instances
-- there: notify them (same channel and payload as instance changes).
create function platform.notify_node_change() returns trigger language plpgsql as $$
begin
  if new.state is distinct from old.state or new.lost_since is distinct from old.lost_since then
    perform pg_notify('tend_instances', a.app || ' ' || new.name)
    from (select distinct app from platform.instances where node = new.name) a;
  end if;
  return null;
end $$;
create trigger nodes_notify after update on platform.nodes
  for each row execute function platform.notify_node_change();
