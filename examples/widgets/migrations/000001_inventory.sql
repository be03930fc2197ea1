-- The Widget controller's own table, in a migration track of its own (recorded in
-- widgets.migrations, after the framework's tend.migrations): one row per Widget. The controller
-- writes `size` (fenced); anyone else — a warehouse, psql — writes `stock`, and each change of it
-- notifies channel widget_stock with the Widget's key, which wakes the controller.
create schema if not exists widgets;

create table widgets.inventory (
  key text primary key,  -- namespace/name: the controller's key
  size integer not null,
  stock integer not null default 0
);

create function widgets.notify_stock() returns trigger
language plpgsql as $$
begin
  perform pg_notify('widget_stock', new.key);
  return null;
end $$;

create trigger inventory_stock after update of stock on widgets.inventory
  for each row when (old.stock is distinct from new.stock) execute function widgets.notify_stock();
