import type { NamedQuery } from '../../framework/index.js';

/**
 * Stores one pass's chunks in one statement ($1 the node; $2… one array per column, in the order
 * the agent read them). Chunks of an instance no longer placed here (removed meanwhile) are left
 * out rather than failing the others.
 */
export const insertLogChunks: NamedQuery = {
  name: 'agent.insert_log_chunks',
  text: `insert into platform.instance_logs (instance, run_started, at, lines, line_count, bytes, end_offset)
         select c.instance, c.run, c.at, c.lines, c.line_count, c.bytes, c.end_offset
         from unnest($2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::integer[], $7::integer[], $8::bigint[])
                with ordinality as c(instance, run, at, lines, line_count, bytes, end_offset, n)
         join platform.instances i on i.id = c.instance and i.node = $1
         order by c.n`,
};

/** Where each instance of this node ($1) was stored up to: its newest chunk's run and offset. */
export const logPositions: NamedQuery = {
  name: 'agent.log_positions',
  text: `select i.id as instance, l.run_started as run, l.end_offset::float8 as offset
         from platform.instances i
         cross join lateral (select run_started, end_offset from platform.instance_logs l
                             where l.instance = i.id order by l.id desc limit 1) l
         where i.node = $1`,
};

/**
 * Keeps, of each instance in $2 (on this node, $1), its two newest runs and of each the newest
 * chunks up to $3 bytes (and always the newest chunk: where the agent resumes); deletes the rest.
 */
export const pruneLogs: NamedQuery = {
  name: 'agent.prune_logs',
  text: `delete from platform.instance_logs l
         using (select instance, id, bytes,
                       dense_rank() over (partition by instance order by run_started desc) as run_rank,
                       sum(bytes) over (partition by instance, run_started order by id desc) as newer_bytes
                from platform.instance_logs
                where instance = any($2::text[])) r
         where l.instance = r.instance and l.id = r.id and (r.run_rank > 2 or r.newer_bytes - r.bytes >= $3)
           and exists (select 1 from platform.instances i where i.id = l.instance and i.node = $1)`,
};
