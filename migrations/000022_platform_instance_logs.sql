-- What instances print, shipped by the agent of their node (agents/node/log-shipping.ts) so that
-- `tend logs` and `tend why` read it from here, for instances on any node, on either backend,
-- and also once the node is lost. Nodes never serve it themselves.
--
-- One row per chunk the agent read from an instance's log file in one pass (every 500 ms): whole
-- lines of one run, a run being one process (started, or restarted after a crash), named by its
-- start time. A row with no lines marks the start of a run, so the newest run is known before it
-- prints. Bounded: the agent keeps the newest `tend agent --log-keep-bytes` of each of the two
-- newest runs of an instance and deletes the rest; an instance's rows go with it.
create table platform.instance_logs (
  instance text not null references platform.instances (id) on delete cascade,
  id bigint generated always as identity,
  run_started timestamptz not null,
  at timestamptz not null,           -- when the agent read the lines: their time
  lines text not null,               -- whole lines, each ending in a newline; '' marks a run's start
  line_count integer not null,
  bytes integer not null,
  end_offset bigint not null,        -- in the run's log file after these lines: where the agent resumes
  -- The one index: an instance's rows in the order its agent wrote them (one writer per instance,
  -- so a reader that follows from the last id it saw misses nothing).
  primary key (instance, id)
);

-- A node's login writes and prunes the output of its own instances, and reads it back to resume.
alter table platform.instance_logs enable row level security;
create policy controllers on platform.instance_logs using ((select platform.is_controller(current_user)));
create policy own_node_read on platform.instance_logs for select
  using (exists (select 1 from platform.instances i where i.id = instance and i.node = (select platform.node_of_role(current_user))));
create policy own_node_insert on platform.instance_logs for insert
  with check (exists (select 1 from platform.instances i where i.id = instance and i.node = (select platform.node_of_role(current_user))));
create policy own_node_delete on platform.instance_logs for delete
  using (exists (select 1 from platform.instances i where i.id = instance and i.node = (select platform.node_of_role(current_user))));
select platform.grant_to('node_agent', 'select', 'platform.instance_logs');
select platform.grant_to('node_agent', 'insert', 'platform.instance_logs',
  array['instance', 'run_started', 'at', 'lines', 'line_count', 'bytes', 'end_offset']);
select platform.grant_to('node_agent', 'delete', 'platform.instance_logs');
