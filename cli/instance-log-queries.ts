/** What `tend logs app/NAME | instance/ID` and `tend why` read of what instances print (platform.instance_logs). */
import type { NamedQuery } from '../framework/index.js';

/** An instance whose output is asked for. */
export interface LoggedInstance {
  id: string;
  app: string;
  node: string;
  ready: boolean;
  desired: string;
}

/** The instances of an App ($1 namespace/name), on any node. */
export const instancesOfApp: NamedQuery = {
  name: 'tend.logs_instances_of_app',
  text: `select id, app, node, ready, desired from platform.instances where app = $1 order by id`,
};

/** One instance by id ($1). */
export const instanceById: NamedQuery = {
  name: 'tend.logs_instance',
  text: `select id, app, node, ready, desired from platform.instances where id = $1`,
};

/** What is stored of one instance: its newest row, its current run and the run before that printed something. */
export interface InstanceRuns {
  instance: string;
  /** bigint as text: where following starts. */
  lastId: string;
  current: Date;
  previous: Date | null;
}

/** The runs of each instance in $1. */
export const runsOfInstances: NamedQuery = {
  name: 'tend.logs_runs',
  text: `select c.instance, c.last_id::text as "lastId", c.current,
                (select max(l.run_started) from platform.instance_logs l
                 where l.instance = c.instance and l.run_started < c.current and l.bytes > 0) as previous
         from (select instance, max(id) as last_id, max(run_started) as current
               from platform.instance_logs where instance = any($1::text[]) group by instance) c`,
};

/** One stored chunk: whole lines of one instance, read by its agent at `at`. */
export interface LogRow {
  instance: string;
  id: string;
  at: Date;
  lines: string;
}

/**
 * The chunks of one run of each instance ($1 ids, $2 runs, $3 the last id to include), read at or
 * after $4 (null: all), and only as many of the newest as hold $5 lines (null: all).
 */
export const linesOfRuns: NamedQuery = {
  name: 'tend.logs_lines',
  text: `select instance, id, at, lines from (
           select l.instance, l.id::text as id, l.id as n, l.at, l.lines,
                  sum(l.line_count) over (partition by l.instance order by l.id desc) - l.line_count as newer_lines
           from platform.instance_logs l
           join unnest($1::text[], $2::timestamptz[], $3::bigint[]) as s(instance, run, upto)
             on l.instance = s.instance and l.run_started = s.run and l.id <= s.upto
           where l.bytes > 0 and ($4::timestamptz is null or l.at >= $4)
         ) x
         where $5::integer is null or newer_lines < $5
         order by at, instance, n`,
};

/**
 * Everything stored after each instance's cursor ($1 ids, $2 last ids seen), any run, markers
 * included (they move the cursor). In id order per instance, so a cut at the limit skips nothing.
 */
export const linesAfter: NamedQuery = {
  name: 'tend.logs_after',
  text: `select l.instance, l.id::text as id, l.at, l.lines
         from platform.instance_logs l
         join unnest($1::text[], $2::bigint[]) as c(instance, after) on l.instance = c.instance and l.id > c.after
         order by l.instance, l.id
         limit 10000`,
};

/** The newest lines of one instance ($1), any run, at most $2 chunks of them. */
export const newestLines: NamedQuery = {
  name: 'tend.logs_newest',
  text: `select instance, id::text as id, at, lines from platform.instance_logs
         where instance = $1 and bytes > 0 order by id desc limit $2`,
};
