/**
 * `npm run bench:overlay-peers`: peers per node and tunnels in all for 10, 50 and 200 nodes, as a
 * full mesh and with hubs (overlay/peers.ts: a full mesh up to fullMeshMax nodes, regional hubs
 * past it), and how long planning takes. Pure: no servers.
 */
import { performance } from 'node:perf_hooks';
import { DEFAULT_FULL_MESH_MAX, planPeers, type OverlayNode } from '../overlay/peers.js';

const CLUSTER = 'fd12:3456:789a::/48';
const rows: string[][] = [['nodes', 'shape', 'peers per node (min / max)', 'tunnels', 'plan all nodes']];
for (const size of [10, 50, 200]) {
  for (const hubs of [0, 4]) {
    const nodes: OverlayNode[] = Array.from({ length: size }, (_, i) => ({
      name: `node-${i}`, publicKey: `key-${i}`, endpoint: `[fd00::${i.toString(16)}]:51820`,
      prefix: `fd12:3456:789a:${(i + 1).toString(16)}::/64`, hub: i < hubs, region: `region-${i % 2}`,
    }));
    const started = performance.now();
    const counts = nodes.map((n) => planPeers(n.name, nodes, { fullMeshMax: DEFAULT_FULL_MESH_MAX, clusterPrefix: CLUSTER }).length);
    const took = performance.now() - started;
    const shape = size <= DEFAULT_FULL_MESH_MAX || hubs === 0 ? 'full mesh' : `${hubs} hubs in 2 regions`;
    rows.push([String(size), shape, `${Math.min(...counts)} / ${Math.max(...counts)}`, String(counts.reduce((a, b) => a + b, 0) / 2), `${took.toFixed(1)} ms`]);
  }
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const row of rows) console.log(`| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`);
