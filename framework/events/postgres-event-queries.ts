/** The SQL of PostgresEventRecorder and of readers of tend.events (tend describe, tend why). */
import type { NamedQuery } from '../store/index.js';

/** One row of tend.events. */
export interface EventRow {
  id: string;
  kind: string;
  namespace: string;
  name: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  count: number;
  first_seen: Date;
  last_seen: Date;
  reporter: string;
}

/** $1 kind, $2 namespace, $3 name, $4 uid, $5 type, $6 reason, $7 message, $8 reporter. */
export const insertEvent: NamedQuery = {
  name: 'tend.events_insert',
  text: `insert into tend.events (kind, namespace, name, uid, type, reason, message, reporter)
    values ($1, $2, $3, $4, $5, $6, $7, $8) returning id::text`,
};

/** A repeat: $1 id, $2 the new count. */
export const bumpEvent: NamedQuery = {
  name: 'tend.events_bump',
  text: `update tend.events set count = $2, last_seen = now() where id = $1`,
};

/** $1 kind, $2 namespace ('' for cluster-scoped), $3 name, $4 how many (newest last). */
export const eventsFor: NamedQuery = {
  name: 'tend.events_for',
  text: `select * from (
      select id::text, kind, namespace, name, type, reason, message, count, first_seen, last_seen, reporter
      from tend.events where kind = $1 and namespace = $2 and name = $3
      order by last_seen desc limit $4) newest
    order by last_seen`,
};

/** Deletes events last seen more than $1 ms ago. */
export const pruneEvents: NamedQuery = {
  name: 'tend.events_prune',
  text: `delete from tend.events where last_seen < now() - make_interval(secs => $1::double precision / 1000)`,
};
