-- Leader-less coordination (see docs/coordination.md): every replica registers here and heartbeats;
-- each key belongs to the live member that a rendezvous hash picks. A member's id is its fencing
-- token: a replica that lost its row (paused past its expiry) rejoins under a new id, and every
-- guarded write checks that the writer's row is still live.
create table tend.members (
  id bigint generated always as identity primary key,
  -- Replica name (pod or host name) for people; ids, not names, decide ownership.
  name text not null,
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  -- Owns keys from active_at (a join delay, so every replica sees the newcomer before it takes
  -- over) until expires_at (pushed forward by each heartbeat).
  active_at timestamptz not null,
  expires_at timestamptz not null
);

-- Serves tend.members_live (`where expires_at > now()`) and tend.members_reap.
create index members_expires_at on tend.members (expires_at);
