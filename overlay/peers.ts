/**
 * @module overlay/peers
 * Which WireGuard peers a node has, computed by every agent from what PostgreSQL says about the
 * nodes: a full mesh while the cluster is small, regional hubs past `fullMeshMax` nodes (seed
 * 004's v2 plan). Switching is this setting, not a rewrite. Pure.
 *
 * With hubs, a hub peers with every node, and a node that is not a hub only with the hubs. Each
 * such node routes through one hub (its region's, else any), chosen by rendezvous hashing so
 * that the choice moves only for the nodes of a hub that comes or goes: that hub's entry carries
 * the whole cluster prefix (the way to every node it has no entry for), the other hubs' entries
 * only their own /64 — WireGuard picks the most specific allowed IP. So a node has as many peers
 * as there are hubs, a hub one per node, and any two nodes are at most two hops apart.
 */
import { createHash } from 'node:crypto';

/** A node as peering sees it. */
export interface OverlayNode {
  readonly name: string;
  /** WireGuard public key, base64; a node without one (its agent has not published it) is left out. */
  readonly publicKey?: string;
  /** host:port others send to; a node without one is reached only when it dials first (no endpoint set). */
  readonly endpoint?: string;
  /** The node's /64 on the overlay. */
  readonly prefix: string;
  readonly hub: boolean;
  readonly region?: string;
}

/** How the overlay is shaped. */
export interface TopologySettings {
  /** Up to this many nodes, every node peers with every other. @default 25 */
  readonly fullMeshMax: number;
  /** The cluster prefix: what a node routes through its hub. */
  readonly clusterPrefix: string;
}

/** One peer entry of a node's WireGuard device. */
export interface Peer {
  readonly node: string;
  readonly publicKey: string;
  readonly endpoint?: string;
  readonly allowedIps: readonly string[];
}

export const DEFAULT_FULL_MESH_MAX = 25;

/** The peers of node `self` among `nodes`, sorted by node name (so equal inputs give equal output). */
export function planPeers(self: string, nodes: readonly OverlayNode[], settings: TopologySettings): Peer[] {
  const known = nodes.filter((n) => n.publicKey !== undefined);
  const me = known.find((n) => n.name === self);
  if (!me) return [];
  const others = known.filter((n) => n.name !== self).sort((a, b) => (a.name < b.name ? -1 : 1));
  const hubs = known.filter((n) => n.hub);
  // A hub peers with everyone; without hubs a large cluster still needs a way round: the full mesh.
  if (known.length <= settings.fullMeshMax || hubs.length === 0 || me.hub) return others.map((n) => peer(n, [n.prefix]));
  const mine = hubOf(me, hubs);
  return others.filter((n) => n.hub).map((n) => peer(n, n.name === mine ? [settings.clusterPrefix] : [n.prefix]));
}

/** The hub non-hub node `node` routes through: its region's hubs if it has any, else all, by rendezvous hash. */
export function hubOf(node: OverlayNode, hubs: readonly OverlayNode[]): string {
  const regional = hubs.filter((h) => node.region !== undefined && h.region === node.region);
  const candidates = regional.length > 0 ? regional : hubs;
  let best: { name: string; score: string } | undefined;
  for (const hub of candidates) {
    const score = createHash('sha256').update(`${node.name}\0${hub.name}`).digest('hex');
    if (!best || score > best.score) best = { name: hub.name, score };
  }
  return best!.name;
}

function peer(node: OverlayNode, allowedIps: readonly string[]): Peer {
  return { node: node.name, publicKey: node.publicKey!, ...(node.endpoint ? { endpoint: node.endpoint } : {}), allowedIps };
}
