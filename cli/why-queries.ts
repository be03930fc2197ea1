/** What `tend why` reads from the platform tables and the journal. */
import type { NamedQuery } from '../framework/index.js';

/** One instance, desired and observed. */
export interface InstanceRow {
  id: string;
  app: string;
  node: string;
  revision: string;
  desired: string;
  phase: string | null;
  ready: boolean;
  restarts: number;
  last_exit: { reason?: string; code?: number; signal?: string; message?: string } | null;
  /** Phase failed: why the node's agent refused it. */
  reason: string | null;
  message: string | null;
  node_state: string;
  heartbeat_at: Date | null;
  /** Its overlay address (migrations/000025). */
  overlay_address: string | null;
}

const instanceColumns = `i.id, i.app, i.node, i.revision, i.desired, i.phase, i.ready, i.restarts, i.last_exit, i.reason, i.message,
  n.state as node_state, a.heartbeat_at, host(o.address) as overlay_address`;
const instanceJoins = `join platform.nodes n on n.name = i.node left join platform.node_agents a on a.node = i.node
    left join platform.instance_addresses o on o.instance = i.id`;

/** Instances of one App ($1 namespace/name). */
export const instancesOfApp: NamedQuery = {
  name: 'tend.why_instances_of_app',
  text: `select ${instanceColumns} from platform.instances i ${instanceJoins} where i.app = $1 order by i.node, i.id`,
};

/** Instances on one node ($1). */
export const instancesOnNode: NamedQuery = {
  name: 'tend.why_instances_on_node',
  text: `select ${instanceColumns} from platform.instances i ${instanceJoins} where i.node = $1 order by i.app, i.id`,
};

/** A routing entry. */
export interface RoutingRow {
  host: string;
  path_prefix: string;
  route: string;
  backends: { address: string; port: number; instance: string }[];
}

/** What the edges serve for one Route ($1 namespace/name). */
export const routingOfRoute: NamedQuery = {
  name: 'tend.why_routing_of_route',
  text: `select host, path_prefix, route, backends from platform.routing where route = $1 order by host, path_prefix`,
};

/** A node's agent ($1). */
export interface AgentRow {
  heartbeat_at: Date;
  started_at: Date;
  memory_enforcement: string;
  /** The public key the agent published for Secrets (null: none yet, an older agent). */
  sealing_key: string | null;
}

export const agentOfNode: NamedQuery = {
  name: 'tend.why_agent_of_node',
  text: `select heartbeat_at, started_at, memory_enforcement, sealing_key from platform.node_agents where node = $1`,
};

/** A node's overlay /64 and the cluster prefix it is numbered in ($1 the node; no row before the Node controller wrote the node). */
export interface NodePrefixRow {
  prefix: string;
  node_index: number;
  cluster: string;
}

export const overlayOfNode: NamedQuery = {
  name: 'tend.why_overlay_of_node',
  text: `select p.prefix::text as prefix, p.node_index, c.prefix::text as cluster from platform.node_prefixes p, platform.overlay_network c where p.node = $1`,
};

/** A volume's row and its node's state ($1 namespace/name). */
export interface VolumeWhyRow {
  node: string | null;
  node_state: string | null;
  lost_since: Date | null;
  desired: string;
  phase: string | null;
  message: string | null;
  usage: number | null;
  size: number;
  backups: { id: string; time: string }[];
}

export const volumeRow: NamedQuery = {
  name: 'tend.why_volume',
  text: `select v.node, n.state as node_state, n.lost_since, v.desired, v.phase, v.message, v.usage::float8 as usage, v.size::float8 as size, v.backups
         from platform.volumes v left join platform.nodes n on n.name = v.node where v.key = $1`,
};

/** A node's login (migrations/000009) and whether it may connect now ($1 the node). */
export interface IdentityRow {
  role: string;
  enrolled_at: Date;
  revoked_at: Date | null;
  can_login: boolean | null;
  sessions: number;
}

export const identityOfNode: NamedQuery = {
  name: 'tend.why_identity_of_node',
  text: `select i.role, i.enrolled_at, i.revoked_at, r.rolcanlogin as can_login,
                (select count(*)::int from pg_stat_activity a where a.usename = i.role) as sessions
         from platform.identities i left join pg_roles r on r.rolname = i.role
         where i.kind = 'node' and i.name = $1`,
};
