import type { NamedQuery } from '../../framework/store/index.js';

/** Registers or renews the agent: one row per node, the heartbeat and the measured machine. */
export const heartbeatAgent: NamedQuery = {
  name: 'agent.heartbeat',
  text: `insert into platform.node_agents as a (node, heartbeat_at, started_at, capacity_cpu, capacity_memory, capacity_disk, memory_enforcement)
         values ($1, now(), $2, $3, $4, $5, $6)
         on conflict (node) do update
           set heartbeat_at = now(), started_at = excluded.started_at, capacity_cpu = excluded.capacity_cpu,
               capacity_memory = excluded.capacity_memory, capacity_disk = excluded.capacity_disk,
               memory_enforcement = excluded.memory_enforcement`,
};

/** Everything placed on this node: what to run and what was last reported. */
export const instancesOfNode: NamedQuery = {
  name: 'agent.instances_of_node',
  text: `select id, memory::float8 as memory, cpu::float8 as cpu, desired, port, spec,
                phase, ready, restarts, last_exit as "lastExit"
         from platform.instances where node = $1`,
};

/** Records the port the agent picked, once: a restarted agent keeps the port it recorded. */
export const assignPort: NamedQuery = {
  name: 'agent.assign_port',
  text: `update platform.instances set port = coalesce(port, $2) where id = $1 returning port`,
};

/** Writes what really runs (only called when it differs from the row). */
export const reportInstance: NamedQuery = {
  name: 'agent.report_instance',
  text: `update platform.instances
         set phase = $3, ready = $4, restarts = $5, last_exit = $6::jsonb, observed_at = now()
         where id = $1 and node = $2`,
};
