-- The routing table the edges serve: a projection maintained by the Route controller from Routes
-- and instance health. Edges read it whole (at start, on NOTIFY tend_routing, and when the
-- version moves) and swap it in one step.

-- One row per accepted Route: where its host and path prefix go right now.
create table platform.routing (
  host text not null,                 -- exact (hello.example.com) or wildcard (*.example.com)
  path_prefix text not null,          -- starts with /
  route text not null,                -- namespace/name of the Route, for logs and metrics
  -- Healthy backends only: [{"address": "10.0.0.5", "port": 41234, "instance": "…"}]; empty when
  -- none is healthy (the edge answers 503 then, never a dead backend).
  backends jsonb not null default '[]',
  updated_at timestamptz not null default now(),
  primary key (host, path_prefix)
);

-- One row: bumped by every change of platform.routing, so an edge that missed a notification
-- sees it moved at its next periodic check.
create table platform.routing_version (
  id boolean primary key default true check (id),
  version bigint not null
);
insert into platform.routing_version (version) values (0);

create function platform.routing_changed() returns trigger language plpgsql as $$
declare v bigint;
begin
  update platform.routing_version set version = version + 1 returning version into v;
  perform pg_notify('tend_routing', v::text);
  return null;
end $$;
-- Per row, not per statement: a statement that changes nothing must not bump the version.
create trigger routing_changed after insert or update or delete on platform.routing
  for each row execute function platform.routing_changed();
