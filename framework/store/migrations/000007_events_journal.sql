-- Two records for people asking "why is it not converging", kept in PostgreSQL so that every
-- replica writes and any CLI reads them, whichever backend stores the resources.

-- Events on resources when they live in PostgreSQL (standalone mode); on Kubernetes they are
-- core/v1 Events. Like Kubernetes: one row per (recorder, object, type, reason, message), repeats
-- bump count and last_seen; rows older than an hour are pruned by the recorders.
create table tend.events (
  id bigint generated always as identity primary key,
  kind text not null,
  -- '' for cluster-scoped kinds.
  namespace text not null,
  name text not null,
  uid text,
  type text not null check (type in ('Normal', 'Warning')),
  reason text not null,
  message text not null,
  count integer not null default 1,
  first_seen timestamptz not null default now(),
  last_seen timestamptz not null default now(),
  reporter text not null
);
-- Serves tend.events_for (`where kind = $1 and namespace = $2 and name = $3 order by last_seen`).
create index events_object on tend.events (kind, namespace, name, last_seen);
-- Serves tend.events_prune (`where last_seen < …`).
create index events_last_seen on tend.events (last_seen);

-- The reconcile journal: what each replica's reconciles of an object concluded. A reconcile that
-- reaches the same result on the same resourceVersion as the replica's previous one is not written
-- again, so steady state writes nothing; each object keeps its newest 50 entries.
create table tend.reconciles (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  replica text not null,
  controller text not null,
  kind text not null,
  -- namespace/name or name, as the controller's key.
  key text not null,
  generation bigint,
  resource_version text,
  result text not null,
  duration_ms real not null,
  message text
);
-- Serves tend.reconciles_for (`where kind = $1 and key = $2 order by id desc`) and the trim.
create index reconciles_object on tend.reconciles (kind, key, id);
