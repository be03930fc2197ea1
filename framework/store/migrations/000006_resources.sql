-- Standalone mode: tend's own objects (Apps, Routes, …) kept in PostgreSQL instead of a Kubernetes
-- API server, behind the same ResourceClient contract (framework/client/postgres-client.ts).
--
-- resourceVersion comes from ONE sequence for every kind, so versions compare across kinds like
-- etcd revisions. Writers take one transaction-scoped advisory lock before drawing a version, so
-- versions commit in order: a reader that sees version n has seen every version below n.

create sequence tend.resource_version_seq as bigint;

create table tend.resources (
  "group" text not null,
  plural text not null,
  kind text not null,
  -- '' for cluster-scoped kinds.
  namespace text not null default '',
  name text not null,
  uid uuid not null,
  resource_version bigint not null,
  generation bigint not null default 1,
  creation_timestamp timestamptz not null default now(),
  deletion_timestamp timestamptz,
  finalizers text[] not null default '{}',
  labels jsonb not null default '{}',
  annotations jsonb not null default '{}',
  owner_references jsonb not null default '[]',
  spec jsonb,
  status jsonb,
  primary key ("group", plural, namespace, name)
);
-- The primary key serves tend.resources_get / _lock (one object) and tend.resources_list
-- (`where "group" = $1 and plural = $2`, its leading columns).

-- Every change, written in the same transaction as the change: what watch replays after a version.
-- Pruned by age (tend.resource_events_prune); the newest event is always kept.
create table tend.resource_events (
  resource_version bigint primary key,
  "group" text not null,
  plural text not null,
  namespace text not null,
  name text not null,
  type text not null check (type in ('ADDED', 'MODIFIED', 'DELETED')),
  object jsonb not null,
  created_at timestamptz not null default now()
);
-- Serves tend.resource_events_poll (`where "group" = $1 and plural = $2 and resource_version > $3
-- order by resource_version`).
create index resource_events_kind_version on tend.resource_events ("group", plural, resource_version);
-- Serves tend.resource_events_prune (`where created_at < …`).
create index resource_events_created_at on tend.resource_events (created_at);

-- One row: every event at or below `upto` may have been pruned; a watch from an older version
-- fails with 410 Gone and the informer lists again.
create table tend.resource_events_pruned (
  id boolean primary key default true check (id),
  upto bigint not null
);
