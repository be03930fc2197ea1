-- Overlay IPAM (issue 20 §1): the cluster's IPv6 prefix, a /64 per node and an address per
-- instance, allocated here, in the transaction that creates the holder, so that any number of
-- controller replicas allocate at once and no address ever has two holders (unique constraints
-- say so; the allocation functions below never need them to). An allocation goes with its
-- holder: a node's prefix when its platform.nodes row is deleted, an instance's address when its
-- platform.instances row is (on delete cascade). overlay/addresses.ts is the same arithmetic in
-- TypeScript; a property test holds the two together.

-- The cluster prefix: one row. A ULA /48 (RFC 4193: fd00::/8 and 40 random bits) chosen when this
-- migration runs. (Setting one's own is not offered yet; overlay/addresses.ts checks one.)
create table platform.overlay_network (
  singleton boolean primary key default true check (singleton),
  prefix cidr not null check (family(prefix) = 6 and masklen(prefix) between 32 and 56)
);
insert into platform.overlay_network (prefix)
select (regexp_replace(substr('fd' || replace(gen_random_uuid()::text, '-', ''), 1, 12), '(....)(....)(....)', '\1:\2:\3') || '::/48')::cidr;

-- A /64 per node. node_index is the node's number inside the cluster prefix (bits masklen..63 of
-- the address): at most 2^(64 − masklen) − 1 nodes, 65,535 under a /48. Freed numbers are reused.
create table platform.node_prefixes (
  node text primary key references platform.nodes (name) on delete cascade,
  node_index integer not null unique check (node_index > 0),
  prefix cidr not null unique check (masklen(prefix) = 64),
  allocated_at timestamptz not null default now()
);

-- An address per instance: the node's /64 plus a number from one sequence, so two instances never
-- get the same one, even on a prefix that went from a removed node to a new one, and allocating
-- takes no lock. (2^63 numbers: none is ever handed out twice.) Numbers start at 2: prefix::1
-- is kept for the node's own address on the overlay.
create sequence platform.instance_address_numbers as bigint minvalue 2;
create table platform.instance_addresses (
  instance text primary key references platform.instances (id) on delete cascade,
  node text not null references platform.node_prefixes (node) on delete cascade,
  address inet not null unique check (masklen(address) = 128)
);
create index instance_addresses_node on platform.instance_addresses (node);

-- The /64 numbered `node_index` inside the cluster prefix: the index's bits ORed in above bit 64.
create function platform.overlay_node_prefix(cluster cidr, node_index integer) returns cidr
language sql immutable strict as $$
  select set_masklen(network(cluster) | ('0:0:' || to_hex(node_index >> 16) || ':' || to_hex(node_index & 65535) || '::')::inet, 64)::cidr
$$;

-- Give `node_name` the lowest free /64. Serialised on the cluster row (node rows are few and
-- created rarely), so two replicas enrolling two nodes at once take different numbers.
create function platform.allocate_node_prefix(node_name text) returns void language plpgsql as $$
declare
  cluster cidr;
  free integer;
begin
  if exists (select 1 from platform.node_prefixes where node = node_name) then return; end if;
  select prefix into cluster from platform.overlay_network for update;
  select min(i) into free
    from generate_series(1, (select count(*)::integer + 1 from platform.node_prefixes)) i
   where not exists (select 1 from platform.node_prefixes where node_index = i);
  if free >= (1::bigint << (64 - masklen(cluster))) then
    raise exception 'overlay prefix % is full: no /64 left for node %', cluster, node_name using errcode = '53400';
  end if;
  insert into platform.node_prefixes (node, node_index, prefix)
  values (node_name, free, platform.overlay_node_prefix(cluster, free))
  on conflict (node) do nothing;
end $$;

create function platform.node_prefix_on_insert() returns trigger language plpgsql as $$
begin
  perform platform.allocate_node_prefix(new.name);
  return null;
end $$;
create trigger nodes_overlay_prefix after insert on platform.nodes
  for each row execute function platform.node_prefix_on_insert();

create function platform.instance_address_on_insert() returns trigger language plpgsql as $$
declare
  node_prefix cidr;
begin
  select prefix into node_prefix from platform.node_prefixes where node = new.node;
  if node_prefix is null then
    perform platform.allocate_node_prefix(new.node);
    select prefix into node_prefix from platform.node_prefixes where node = new.node;
  end if;
  insert into platform.instance_addresses (instance, node, address)
  values (new.id, new.node, set_masklen(host(node_prefix)::inet + nextval('platform.instance_address_numbers'), 128));
  return null;
end $$;
create trigger instances_overlay_address after insert on platform.instances
  for each row execute function platform.instance_address_on_insert();

-- What exists today gets its allocations: nodes by name, then instances by age.
select platform.allocate_node_prefix(name) from (select name from platform.nodes order by name) n;
insert into platform.instance_addresses (instance, node, address)
select i.id, i.node, set_masklen(host(p.prefix)::inet + nextval('platform.instance_address_numbers'), 128)
from (select id, node from platform.instances order by created_at, id) i
join platform.node_prefixes p on p.node = i.node;
