import type { NamedQuery } from '../framework/index.js';

/** The scheduler's view of one node, as last written. */
export const selectNodeRow: NamedQuery = {
  name: 'platform.node_select',
  text: `select generation::int as generation, address, labels, state,
                allocatable_memory::float8 as "allocatableMemory", allocatable_cpu::float8 as "allocatableCpu", disk::float8 as disk,
                to_char(lost_since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "lostSince",
                drain_deadline_seconds as "drainDeadlineSeconds"
         from platform.nodes where name = $1`,
};

/**
 * The node's agent: last heartbeat and measured capacity, and since when the control plane has been
 * able to see heartbeats: this PostgreSQL's start, or the oldest live replica's join (every replica
 * rejoins after an outage that outlasted its membership). Silence before that is no evidence.
 */
export const selectNodeAgent: NamedQuery = {
  name: 'platform.node_agent_select',
  text: `select heartbeat_at, capacity_cpu::float8 as cpu, capacity_memory::float8 as memory, capacity_disk::float8 as disk,
                isolated, isolation_message,
                greatest(pg_postmaster_start_time(), (select min(started_at) from tend.members where expires_at > now())) as watched_since
         from platform.node_agents where node = $1`,
};

/** What is placed on the node. */
export const selectNodeAllocation: NamedQuery = {
  name: 'platform.node_allocation',
  text: `select coalesce(sum(memory), 0)::float8 as memory, coalesce(sum(cpu), 0)::float8 as cpu, count(*)::int as instances
         from platform.instances where node = $1`,
};

/** Writes the node's row ($10: lost since, $11: drain deadline); fenced by the writer's membership ($9; 0 = single replica). */
export const upsertNodeRow: NamedQuery = {
  name: 'platform.node_upsert',
  text: `insert into platform.nodes as n (name, uid, generation, address, labels, state, allocatable_memory, allocatable_cpu, lost_since,
                                         drain_deadline_seconds, draining_since, disk)
         select $1, $2, $3, $4, $5::jsonb, $6, $7, $8, $10::timestamptz, $11::int, case when $6 = 'draining' then now() end, $12
         where tend.fenced($9::bigint)
         on conflict (name) do update
           set uid = excluded.uid, generation = excluded.generation, address = excluded.address, labels = excluded.labels,
               state = excluded.state, allocatable_memory = excluded.allocatable_memory,
               allocatable_cpu = excluded.allocatable_cpu, lost_since = excluded.lost_since,
               drain_deadline_seconds = excluded.drain_deadline_seconds, disk = excluded.disk,
               -- The drain's clock starts when draining starts, and survives other changes.
               draining_since = case when excluded.state = 'draining' then coalesce(n.draining_since, now()) end,
               updated_at = now()
           where n.uid <> excluded.uid or n.generation <= excluded.generation`,
};

/** Removes a deleted node's row (only when nothing is placed there any more: the FK guards it). */
export const deleteNodeRow: NamedQuery = {
  name: 'platform.node_delete',
  text: `delete from platform.nodes where name = $1 and uid = $2
           and tend.fenced($3::bigint)`,
};

/** The volumes whose data lives on a node ($1). */
export const selectNodeVolumes: NamedQuery = {
  name: 'platform.node_volumes',
  text: `select key from platform.volumes where node = $1 order by key`,
};

/** Revokes the node's agent credentials (migrations/000009); true only when this call revoked them. */
export const revokeNodeIdentity: NamedQuery = {
  name: 'platform.node_revoke_identity',
  text: `select platform.revoke_identity('node', $1) as revoked`,
};

/** Drops the login of a deleted node. */
export const forgetNodeIdentity: NamedQuery = {
  name: 'platform.node_forget_identity',
  text: `select platform.forget_identity('node', $1) as forgotten`,
};
