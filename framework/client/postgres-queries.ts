/** The SQL of PostgresClient (framework/client/postgres-client.ts), one named query per statement. */
import type { NamedQuery } from '../store/index.js';

/** The columns of tend.resources, as PostgresClient reads them. */
export interface ResourceRow {
  group: string;
  plural: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  /** bigint: pg returns it as a string, which is what resourceVersion is. */
  resource_version: string;
  generation: string;
  creation_timestamp: Date;
  deletion_timestamp: Date | null;
  finalizers: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  owner_references: unknown[];
  spec: unknown;
  status: unknown;
}

/** One row of the watch poll: the pruning horizon and head of the log, and an event if any. */
export interface EventPollRow {
  horizon: string;
  head: string | null;
  resource_version: string | null;
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | null;
  object: unknown;
}

const columns = `"group", plural, kind, namespace, name, uid, resource_version, generation, creation_timestamp,
  deletion_timestamp, finalizers, labels, annotations, owner_references, spec, status`;

/**
 * Serialises every resource write, so versions commit in the order they were drawn (see
 * 000006_resources.sql). Two-key form: a key space apart from migrate's one-bigint lock.
 */
export const lockWrites: NamedQuery = {
  name: 'tend.resources_lock_writes',
  text: `select pg_advisory_xact_lock(hashtext('tend.resources'), 0)`,
};

export const nextVersion: NamedQuery = {
  name: 'tend.resources_next_version',
  text: `select nextval('tend.resource_version_seq')::text as rv`,
};

export const getResource: NamedQuery = {
  name: 'tend.resources_get',
  text: `select ${columns} from tend.resources where "group" = $1 and plural = $2 and namespace = $3 and name = $4`,
};

export const listResources: NamedQuery = {
  name: 'tend.resources_list',
  text: `select ${columns} from tend.resources where "group" = $1 and plural = $2 order by namespace, name`,
};

/**
 * The version a list is consistent at: the newest event (pruning keeps it), else the pruning
 * horizon, else 0. Run in the same repeatable-read transaction as tend.resources_list.
 */
export const currentVersion: NamedQuery = {
  name: 'tend.resources_current_version',
  text: `select greatest(
    (select max(resource_version) from tend.resource_events),
    (select max(upto) from tend.resource_events_pruned),
    0)::text as rv`,
};

export const setRepeatableRead: NamedQuery = {
  name: 'tend.resources_repeatable_read',
  text: 'set transaction isolation level repeatable read, read only',
};

/** $1 group … $16 status. Returns nothing when the name is taken. */
export const insertResource: NamedQuery = {
  name: 'tend.resources_insert',
  text: `insert into tend.resources (${columns})
  values ($1, $2, $3, $4, $5, $6, $7, 1, now(), null, $8, $9, $10, $11, $12, $13)
  on conflict ("group", plural, namespace, name) do nothing
  returning ${columns}`,
};

/** Replaces metadata and spec (never status). */
export const updateResource: NamedQuery = {
  name: 'tend.resources_update',
  text: `update tend.resources
  set resource_version = $5, generation = $6, finalizers = $7, labels = $8, annotations = $9, owner_references = $10, spec = $11
  where "group" = $1 and plural = $2 and namespace = $3 and name = $4
  returning ${columns}`,
};

export const updateStatus: NamedQuery = {
  name: 'tend.resources_update_status',
  text: `update tend.resources set resource_version = $5, status = $6
  where "group" = $1 and plural = $2 and namespace = $3 and name = $4
  returning ${columns}`,
};

export const markDeleted: NamedQuery = {
  name: 'tend.resources_mark_deleted',
  text: `update tend.resources set resource_version = $5, deletion_timestamp = now()
  where "group" = $1 and plural = $2 and namespace = $3 and name = $4
  returning ${columns}`,
};

export const deleteResource: NamedQuery = {
  name: 'tend.resources_delete',
  text: `delete from tend.resources where "group" = $1 and plural = $2 and namespace = $3 and name = $4`,
};

/** $1 version, $2 group, $3 plural, $4 namespace, $5 name, $6 type, $7 object. */
export const insertEvent: NamedQuery = {
  name: 'tend.resource_events_insert',
  text: `insert into tend.resource_events (resource_version, "group", plural, namespace, name, type, object)
  values ($1, $2, $3, $4, $5, $6, $7)`,
};

/** Sent inside the writing transaction, so delivered at commit. Payload: the plural. */
export const notifyChange: NamedQuery = {
  name: 'tend.resources_notify',
  text: `select pg_notify('tend_resources', $1)`,
};

/**
 * Events of one kind after $3 (at most $4), with the pruning horizon and the head of the whole
 * log, all from one statement and so one snapshot. Always at least one row.
 */
export const pollEvents: NamedQuery = {
  name: 'tend.resource_events_poll',
  text: `with h as (
    select coalesce((select max(upto) from tend.resource_events_pruned), 0)::text as horizon,
           (select max(resource_version) from tend.resource_events)::text as head
  )
  select h.horizon, h.head, e.resource_version::text as resource_version, e.type, e.object
  from h left join lateral (
    select resource_version, type, object from tend.resource_events
    where "group" = $1 and plural = $2 and resource_version > $3
    order by resource_version limit $4
  ) e on true
  order by e.resource_version`,
};

/** Deletes events older than $1 ms, except the newest; moves the horizon. Returns how many. */
export const pruneEvents: NamedQuery = {
  name: 'tend.resource_events_prune',
  text: `with doomed as (
    delete from tend.resource_events
    where created_at < now() - make_interval(secs => $1::double precision / 1000)
      and resource_version < (select max(resource_version) from tend.resource_events)
    returning resource_version
  ), moved as (
    insert into tend.resource_events_pruned (id, upto)
    select true, max(resource_version) from doomed having count(*) > 0
    on conflict (id) do update set upto = greatest(tend.resource_events_pruned.upto, excluded.upto)
  )
  select count(*)::int as n from doomed`,
};
