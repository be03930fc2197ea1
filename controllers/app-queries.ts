import type { NamedQuery } from '../framework/index.js';

/** The app's instances with the Node controller's verdict on their nodes (lost since, draining). */
export const instancesOfApp: NamedQuery = {
  name: 'platform.instances_of_app',
  text: `select i.id, i.revision, i.node, i.desired, i.phase, i.ready and n.lost_since is null as ready,
                i.created_at as "createdAt", i.restarts, i.last_exit as "lastExit", i.reason, i.message, i.no_tenant_since as "noTenantSince",
                n.lost_since as "nodeLostSince", n.state in ('draining', 'decommissioned') as "nodeDraining",
                n.state = 'draining' and n.draining_since + n.drain_deadline_seconds * interval '1 second' < now() as "nodeDrainExpired",
                i.sealed_to is not null and i.sealed_to is distinct from ag.sealing_key as "sealedStale",
                jsonb_path_query_array(i.spec, '$.volumes[*].volume') as volumes
         from platform.instances i
         join platform.nodes n on n.name = i.node
         left join platform.node_agents ag on ag.node = i.node
         where i.app = $1`,
};

/**
 * Every node as the scheduler and volume binding see it: state, liveness, what it offers and what
 * is placed on it — instances' memory and CPU, volumes' disk.
 */
export const schedulerNodes: NamedQuery = {
  name: 'platform.scheduler_nodes',
  text: `select n.name, n.state, n.labels, n.allocatable_memory::float8 as "allocatableMemory", n.allocatable_cpu::float8 as "allocatableCpu",
                coalesce(a.memory, 0)::float8 as "allocatedMemory", coalesce(a.cpu, 0)::float8 as "allocatedCpu", coalesce(a.instances, 0)::int as "allocatedInstances",
                n.disk::float8 as "diskCapacity", coalesce(v.size, 0)::float8 as "diskBound",
                coalesce(ag.heartbeat_at > now() - $1 * interval '1 millisecond', false) as alive,
                ag.sealing_key is not null as "canSeal",
                coalesce(ag.isolated, false) as isolated
         from platform.nodes n
         left join (select node, sum(memory) as memory, sum(cpu) as cpu, count(*) as instances from platform.instances group by node) a on a.node = n.name
         left join (select node, sum(size) as size from platform.volumes where node is not null group by node) v on v.node = n.name
         left join platform.node_agents ag on ag.node = n.name`,
};

/**
 * What the tenant's placed instances hold: memory and CPU, and how many (the hard memory and
 * instance quotas; the Tenant's status.usage). One indexed sum (instances_tenant), whatever the replicas.
 */
export const tenantUsage: NamedQuery = {
  name: 'platform.tenant_usage',
  text: `select coalesce(sum(memory), 0)::float8 as memory, coalesce(sum(cpu), 0)::float8 as cpu, count(*)::int as instances
         from platform.instances where tenant = $1`,
};

/**
 * Locks the chosen nodes' rows, in name order so two replicas never deadlock. Only locks: under
 * READ COMMITTED a statement reads with the snapshot it started with, so sums taken in the same
 * statement would miss what the previous lock holder committed while this one waited (that
 * overbooked nodes 3.8× in the placement race test).
 */
export const lockNodes: NamedQuery = {
  name: 'platform.lock_nodes',
  text: `select name from platform.nodes where name = any($1::text[]) order by name for update`,
};

/**
 * After lockNodes, in a new statement (a fresh snapshot): what the locked nodes offer and what is
 * placed on them now — the re-check that makes overbooking impossible whatever ran meanwhile.
 */
export const lockedNodesAllocation: NamedQuery = {
  name: 'platform.locked_nodes_allocation',
  text: `select n.name, n.allocatable_memory::float8 as "allocatableMemory", n.allocatable_cpu::float8 as "allocatableCpu",
                coalesce((select sum(memory) from platform.instances i where i.node = n.name), 0)::float8 as "allocatedMemory",
                coalesce((select sum(cpu) from platform.instances i where i.node = n.name), 0)::float8 as "allocatedCpu",
                (select count(*) from platform.instances i where i.node = n.name)::int as "allocatedInstances"
         from platform.nodes n where n.name = any($1::text[])`,
};

/** Serialises placements of one tenant (its memory quota is hard) by locking its row. */
export const lockTenant: NamedQuery = {
  name: 'platform.lock_tenant',
  text: `select name from platform.tenants where name = $1 for update`,
};

/**
 * Inserts a batch of one app's instances in one statement: ids $1, nodes $5, sealed environments
 * $9 and the keys they are sealed to $10 are parallel arrays (nulls for an App without Secrets).
 */
export const insertInstances: NamedQuery = {
  name: 'platform.instances_insert',
  text: `insert into platform.instances (id, app, tenant, revision, node, memory, cpu, spec, sealed_env, sealed_to)
         select unnest($1::text[]), $2, $3, $4, unnest($5::text[]), $6, $7, $8::jsonb, unnest($9::text[]), unnest($10::text[])`,
};

/** Under the node locks: the sealing key each node's agent published ($1 the nodes). */
export const nodeSealingKeys: NamedQuery = {
  name: 'platform.node_sealing_keys',
  text: `select node, sealing_key as key from platform.node_agents where node = any($1::text[]) and sealing_key is not null`,
};

/** Asks the node's agent to stop an instance; fenced. */
export const stopInstance: NamedQuery = {
  name: 'platform.instance_stop',
  text: `update platform.instances set desired = 'stopped'
         where id = $1 and desired <> 'stopped'
           and tend.fenced($2::bigint)`,
};

/**
 * Records, on the app's running instances not marked yet, that their namespace belongs to no Tenant
 * from now on (the database's clock): the grace before they stop counts from here. Fenced ($2).
 */
export const markNoTenant: NamedQuery = {
  name: 'platform.instances_mark_no_tenant',
  text: `update platform.instances set no_tenant_since = now()
         where app = $1 and desired = 'running' and no_tenant_since is null
           and tend.fenced($2::bigint)`,
};

/** A Tenant owns the app's namespace again: its instances are no longer on their way out. Fenced ($2). */
export const clearNoTenant: NamedQuery = {
  name: 'platform.instances_clear_no_tenant',
  text: `update platform.instances set no_tenant_since = null
         where app = $1 and no_tenant_since is not null
           and tend.fenced($2::bigint)`,
};

/** Removes an instance its agent reported stopped (or whose node is gone); fenced. */
export const forgetInstance: NamedQuery = {
  name: 'platform.instance_forget',
  text: `delete from platform.instances
         where id = $1 and desired = 'stopped'
           and tend.fenced($2::bigint)`,
};

/** The volumes an App mounts ($1: their keys), with their node's liveness and latest backup. */
export const volumesOfApp: NamedQuery = {
  name: 'platform.volumes_of_app',
  text: `select v.key, v.node, v.size::float8 as size, v.usage::float8 as usage, v.desired, v.phase, n.lost_since as "nodeLostSince",
                v.backups -> -1 as "latestBackup"
         from platform.volumes v left join platform.nodes n on n.name = v.node
         where v.key = any($1::text[])`,
};

/**
 * A volume of the tenant of volume $1 whose data is larger than its spec.size, if any: the process
 * runtime cannot enforce sizes, so such a tenant gets no new volume bound until it is back within.
 */
export const tenantVolumeOverSize: NamedQuery = {
  name: 'platform.tenant_volume_over_size',
  text: `select o.key, o.usage::float8 as usage, o.size::float8 as size
         from platform.volumes v join platform.volumes o on o.tenant = v.tenant
         where v.key = $1 and o.usage > o.size order by o.key limit 1`,
};

/** Binds an unbound volume ($1 key) to node $2; a volume already bound keeps its node. $3 fence. */
export const bindVolume: NamedQuery = {
  name: 'platform.volume_bind',
  text: `update platform.volumes set node = $2, bound_at = now() where key = $1 and node is null
           and tend.fenced($3::bigint)`,
};

/** After lockNodes, in a new statement: the disk node $1 offers minus what its volumes hold. */
export const nodeFreeDisk: NamedQuery = {
  name: 'platform.node_free_disk',
  text: `select (n.disk - coalesce((select sum(size) from platform.volumes v where v.node = n.name), 0))::float8 as free
         from platform.nodes n where n.name = $1`,
};
