-- Backups are keyed by volume uid and tenant: the backup store keeps a volume's backups under
-- `tenant/uid` (platform.volumes.backup_key, chosen by the Volume controller), so a Volume
-- created again under the same name, or a namespace handed to another tenant, never reaches the
-- backups of the one before. restoreFrom is resolved by the controller, which refuses a source
-- whose backups another tenant made.
alter table platform.volumes add column backup_key text;
-- Volumes that exist already keep the folder their backups are in (namespace/name) while their
-- tenant stays the same.
update platform.volumes set backup_key = key;

-- The backups of a Volume that was deleted (or whose namespace went to another tenant): kept, and
-- restorable by the same tenant naming the Volume in restoreFrom, until prune_after; then the
-- agent of `node` (which took them) removes them from the store and deletes the row.
create table platform.backup_sets (
  store_key text primary key,
  tenant text not null,
  volume_uid text not null,
  volume_key text not null,             -- namespace/name it had
  node text not null,
  released_at timestamptz not null,
  prune_after timestamptz not null
);
-- restoreFrom by name: the newest released set of a namespace/name.
create index backup_sets_volume on platform.backup_sets (volume_key, released_at desc);
-- The agent's prune pass.
create index backup_sets_node on platform.backup_sets (node, prune_after);

alter table platform.backup_sets enable row level security;
create policy controllers on platform.backup_sets using ((select platform.is_controller(current_user)));
create policy own_node_read on platform.backup_sets for select using (node = (select platform.node_of_role(current_user)));
create policy own_node_delete on platform.backup_sets for delete using (node = (select platform.node_of_role(current_user)));
select platform.grant_to('node_agent', 'select', 'platform.backup_sets');
select platform.grant_to('node_agent', 'delete', 'platform.backup_sets');
