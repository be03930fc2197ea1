import type { NamedQuery } from '../../framework/index.js';

/** Registers or renews the agent: one row per node, the heartbeat, the measured machine and its sealing key's public half. */
export const heartbeatAgent: NamedQuery = {
  name: 'agent.heartbeat',
  text: `insert into platform.node_agents as a (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement,
                                              isolated, isolation_message, sealing_key)
         values ($1, now(), $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (node) do update
           set heartbeat_at = now(), started_at = excluded.started_at, capacity_cpu = excluded.capacity_cpu,
               capacity_memory = excluded.capacity_memory, capacity_disk = excluded.capacity_disk,
               memory_enforcement = excluded.memory_enforcement, isolated = excluded.isolated,
               isolation_message = excluded.isolation_message, sealing_key = excluded.sealing_key`,
};

/** Everything placed on this node: what to run and what was last reported. */
export const instancesOfNode: NamedQuery = {
  name: 'agent.instances_of_node',
  text: `select id, memory::float8 as memory, cpu::float8 as cpu, desired, port, spec,
                phase, ready, restarts, last_exit as "lastExit", reason, message, sealed_env as "sealedEnv"
         from platform.instances where node = $1`,
};

/**
 * Records the ports the agent picked ($2: [{id, port}]), once: a restarted agent keeps the port it
 * recorded. One statement for every instance of the pass.
 */
export const assignPorts: NamedQuery = {
  name: 'agent.assign_ports',
  text: `update platform.instances i set port = coalesce(i.port, r.port)
         from jsonb_to_recordset($2::jsonb) as r(id text, port integer)
         where i.id = r.id and i.node = $1`,
};

/**
 * Writes what really runs ($2: [{id, phase, ready, restarts, last_exit, reason, message}]), one
 * statement for every instance of the pass. A row equal by value (jsonb compares by value, not key
 * order) is not written: no write, no trigger, no notification.
 */
export const reportInstances: NamedQuery = {
  name: 'agent.report_instances',
  text: `update platform.instances i
         set phase = r.phase, ready = r.ready, restarts = r.restarts, last_exit = r.last_exit,
             reason = r.reason, message = r.message, observed_at = now()
         from jsonb_to_recordset($2::jsonb)
           as r(id text, phase text, ready boolean, restarts integer, last_exit jsonb, reason text, message text)
         where i.id = r.id and i.node = $1
           and (i.phase, i.ready, i.restarts, i.last_exit, i.reason, i.message)
               is distinct from (r.phase, r.ready, r.restarts, r.last_exit, r.reason, r.message)`,
};
