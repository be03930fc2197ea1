-- The disk a node offers to volumes (spec.capacity.disk, else what its agent measured), written
-- by the Node controller: binding compares it with the sizes of the volumes already there.
alter table platform.nodes add column disk bigint not null default 0;

-- Volumes: a directory on one node, with backups. The Volume controller writes the desired columns
-- (from spec), the App controller binds an unbound volume to a node when the first App mounting it
-- is placed, and the node agent of that node writes the observed columns (provisioned, usage,
-- backups). A bound volume never moves by itself: its data lives on that node.
create table platform.volumes (
  key text primary key,                   -- namespace/name
  uid text not null,
  tenant text not null,
  size bigint not null,                   -- bytes: spec.size (may only grow)
  node text references platform.nodes (name),  -- null until bound; spec.node pins it up front
  bound_at timestamptz,
  desired text not null default 'present' check (desired in ('present', 'deleted')),
  -- {"volume": "namespace/name", "backup": "id" | null}: fill from that backup when provisioning.
  restore_from jsonb,
  backup_schedule text,                   -- cron, UTC; null: no scheduled backups
  backup_retain integer not null default 7,
  -- A new value asks the agent for a backup now (annotation tend.dev/backup-request).
  backup_request text,
  -- Observed by the agent of `node`:
  phase text check (phase in ('provisioning', 'restoring', 'ready', 'failed', 'deleted')),
  message text,
  usage bigint,                           -- bytes in the directory
  backups jsonb not null default '[]',    -- [{"id", "time", "sizeBytes", "checksum"}], oldest first
  last_backup_at timestamptz,
  backup_request_done text,               -- the backup_request last served
  observed_at timestamptz
);

-- Serves platform.volumes_of_node (the agent's read) and the free-disk sums of binding.
create index volumes_node on platform.volumes (node);

-- Wake the Volume controller and the node's agent (LISTEN tend_volumes): payload "namespace/name node".
-- A volume arriving on or leaving a node also concerns that node's controller (a decommission waits
-- for its volumes): LISTEN tend_nodes, payload the node's name. Usage and backup reports do not.
create function platform.notify_volume_change() returns trigger language plpgsql as $$
begin
  perform pg_notify('tend_volumes', coalesce(new.key, old.key) || ' ' || coalesce(new.node, old.node, ''));
  if tg_op = 'DELETE' and old.node is not null then
    perform pg_notify('tend_nodes', old.node);
  elsif tg_op <> 'DELETE' and new.node is not null and (tg_op = 'INSERT' or new.node is distinct from old.node) then
    perform pg_notify('tend_nodes', new.node);
  end if;
  return null;
end $$;
create trigger volumes_notify after insert or update or delete on platform.volumes
  for each row execute function platform.notify_volume_change();

-- A volume's node lost or back, draining or retired: its Volume's conditions change (same channel).
create function platform.notify_volume_node_change() returns trigger language plpgsql as $$
begin
  if new.state is distinct from old.state or new.lost_since is distinct from old.lost_since then
    perform pg_notify('tend_volumes', v.key || ' ' || new.name) from platform.volumes v where v.node = new.name;
  end if;
  return null;
end $$;
create trigger nodes_notify_volumes after update on platform.nodes
  for each row execute function platform.notify_volume_node_change();
