/** The SQL of the reconcile journal (tend.reconciles). */
import type { NamedQuery } from '../store/index.js';

/** One journal entry as readers see it. */
export interface JournalRow {
  id: string;
  at: Date;
  replica: string;
  controller: string;
  kind: string;
  key: string;
  generation: string | null;
  resource_version: string | null;
  result: string;
  duration_ms: number;
  message: string | null;
}

/** A batch from one replica: $1 replica, then one array per column. */
export const insertEntries: NamedQuery = {
  name: 'tend.reconciles_insert',
  text: `insert into tend.reconciles (replica, at, controller, kind, key, generation, resource_version, result, duration_ms, message)
    select $1, * from unnest($2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::real[], $10::text[])`,
};

/**
 * The newest entry of each (controller $1, kind $2, key $3) that has one: what a replica that
 * knows no earlier reconcile of the object (just started, or the key just moved to it) compares with.
 */
export const lastEntries: NamedQuery = {
  name: 'tend.reconciles_last',
  text: `select o.controller, o.key, l.result, l.resource_version, l.message
    from unnest($1::text[], $2::text[], $3::text[]) as o(controller, kind, key)
    cross join lateral (select r.result, r.resource_version, r.message from tend.reconciles r
      where r.kind = o.kind and r.key = o.key and r.controller = o.controller order by r.id desc limit 1) l`,
};

/** Keeps the newest $3 entries of each (kind, key) in the arrays $1, $2. */
export const trimEntries: NamedQuery = {
  name: 'tend.reconciles_trim',
  text: `delete from tend.reconciles r
    using unnest($1::text[], $2::text[]) as o(kind, key)
    where r.kind = o.kind and r.key = o.key
      and r.id <= (select x.id from tend.reconciles x where x.kind = o.kind and x.key = o.key
                   order by x.id desc offset $3 limit 1)`,
};

/** The newest $3 entries of one object ($1 kind, $2 key), newest first. */
export const entriesFor: NamedQuery = {
  name: 'tend.reconciles_for',
  text: `select id::text, at, replica, controller, kind, key, generation::text, resource_version, result, duration_ms, message
    from tend.reconciles r where kind = $1 and key = $2 order by r.id desc limit $3`,
};

/** Entries after id $1 (ordered by the bigint column, not the text id of the output) (oldest first, at most $2), for following the journal. */
export const entriesAfter: NamedQuery = {
  name: 'tend.reconciles_after',
  text: `select id::text, at, replica, controller, kind, key, generation::text, resource_version, result, duration_ms, message
    from tend.reconciles r where r.id > $1 order by r.id limit $2`,
};

/** The newest $1 entries of every object, oldest first: where following starts. */
export const latestEntries: NamedQuery = {
  name: 'tend.reconciles_latest',
  text: `select * from (select id::text, at, replica, controller, kind, key, generation::text, resource_version, result, duration_ms, message
    from tend.reconciles r order by r.id desc limit $1) newest order by id::bigint`,
};

/** Forgets entries older than $1 ms (objects deleted long ago leave no trace forever). */
export const pruneOldEntries: NamedQuery = {
  name: 'tend.reconciles_prune',
  text: `delete from tend.reconciles where at < now() - make_interval(secs => $1::double precision / 1000)`,
};
