-- How isolated a node's instances are, as its agent found out at startup (issue 12 §1): sandboxed
-- (own namespaces and uid each) or not, and why. The Node controller turns it into the Node's
-- Isolated condition; the scheduler and volume binding place only on isolated nodes unless the
-- cluster allows unisolated ones (tend run --allow-unisolated-nodes; tend up does).
alter table platform.node_agents
  add column isolated boolean not null default false,
  add column isolation_message text not null default '';

select platform.grant_to('node_agent', 'insert', 'platform.node_agents', array['isolated', 'isolation_message']);
select platform.grant_to('node_agent', 'update', 'platform.node_agents', array['isolated', 'isolation_message']);

-- A change of isolation wakes the Node controller too (an agent restarted with another
-- --sandbox also changes started_at; this keeps the condition right even if it did not).
create or replace function platform.notify_agent_change() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' or new.started_at <> old.started_at or new.heartbeat_at - old.heartbeat_at > interval '10 seconds'
     or new.isolated <> old.isolated or new.isolation_message <> old.isolation_message then
    perform pg_notify('tend_nodes', new.node);
  end if;
  return null;
end $$;
