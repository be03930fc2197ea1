-- The Node controller learns of instances arriving on or leaving a node through tend_nodes (payload:
-- the node's name), raised only when what a Node reports changes: an insert, a delete, a move, or
-- a new size (its status.allocated and instance count). Agents' reports — phase, readiness,
-- restarts, a crash loop's every exit — no longer wake it through tend_instances (bench:crash-loop,
-- 40 crash-looping instances: 46 Node reconciles/s before the agent batched its reports, 1.6 after,
-- 0.5 with this: its liveness requeues alone). The tend_instances payload stays "namespace/app node".
create or replace function platform.notify_instance_change() returns trigger language plpgsql as $$
begin
  perform pg_notify('tend_instances', coalesce(new.app, old.app) || ' ' || coalesce(new.node, old.node));
  if tg_op = 'DELETE' then
    perform pg_notify('tend_nodes', old.node);
  elsif tg_op = 'INSERT' then
    perform pg_notify('tend_nodes', new.node);
  elsif new.node is distinct from old.node then
    perform pg_notify('tend_nodes', old.node);
    perform pg_notify('tend_nodes', new.node);
  elsif new.memory is distinct from old.memory or new.cpu is distinct from old.cpu then
    perform pg_notify('tend_nodes', new.node);
  end if;
  return null;
end $$;
