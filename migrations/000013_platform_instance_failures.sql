-- Why an instance does not run when its node's agent refused it (phase 'failed'): reason
-- RuntimeUnavailable, InvalidCommand, InvalidSpec or RuntimeError, and a message for people. The
-- agent writes them, so its login may; the App's conditions and `tend why` show them.
alter table platform.instances add column reason text, add column message text;
select platform.grant_to('node_agent', 'update', 'platform.instances', array['reason', 'message']);
