-- The revisions of each App: what its instances ran (the spec fields that make a revision) and
-- when, for `tend rollout history|undo` and spec.rollout.autoRollback. Written by the App
-- controller, fenced: once when a revision becomes the spec's, once when it is first fully
-- available, once when an automatic rollback leaves it; read at every reconcile (steady state
-- writes nothing). Keyed by the App's uid, so an App created again under its name starts afresh;
-- its rows go when the App goes. The newest 10 by number are kept, and the newest available one.
create table platform.app_revisions (
  app_uid text not null,
  app text not null,                -- namespace/name, for people and tend why
  revision text not null,           -- the hash, as in status.revision
  -- 1, 2, 3 … per App; a revision that becomes the spec's again (tend rollout undo) takes the
  -- next number, as a Deployment's ReplicaSet does.
  number integer not null,
  template jsonb not null,          -- command, args, env (Secret references, never values), image, port, resources, healthCheck, volumes
  started_at timestamptz not null default now(),   -- when it last became the spec's revision
  available_at timestamptz,         -- when every replica of it was first ready together
  -- An automatic rollback: this revision failed at that generation of the App (the rollback holds
  -- until the spec changes), why, and the revision the App runs instead.
  failed_generation bigint,
  failure text,
  rolled_back_to text,
  primary key (app_uid, revision)
);
