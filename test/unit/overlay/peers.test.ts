import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planPeers, type OverlayNode, type Peer } from '../../../overlay/peers.js';

const CLUSTER = 'fd12:3456:789a::/48';
const settings = { fullMeshMax: 25, clusterPrefix: CLUSTER };
const node = (i: number, extra: Partial<OverlayNode> = {}): OverlayNode => ({
  name: `n${String(i).padStart(3, '0')}`, publicKey: `key${i}`, endpoint: `[fd00::${i}]:51820`, prefix: `fd12:3456:789a:${(i + 1).toString(16)}::/64`, hub: false, ...extra,
});

/** Follows WireGuard's choice hop by hop: the peer whose allowed IPs hold the destination's /64, else the cluster prefix. */
function hops(from: string, to: OverlayNode, peers: ReadonlyMap<string, Peer[]>): number | undefined {
  let at = from;
  for (let hop = 1; hop <= 4; hop++) {
    const table = peers.get(at) ?? [];
    const next = table.find((p) => p.allowedIps.includes(to.prefix)) ?? table.find((p) => p.allowedIps.includes(CLUSTER));
    if (!next) return undefined;
    if (next.node === to.name) return hop;
    at = next.node;
  }
  return undefined;
}

const cluster = fc.record({
  size: fc.integer({ min: 2, max: 40 }),
  hubs: fc.integer({ min: 0, max: 5 }),
  regions: fc.integer({ min: 1, max: 3 }),
  fullMeshMax: fc.integer({ min: 2, max: 20 }),
}).map(({ size, hubs, regions, fullMeshMax }) => ({
  fullMeshMax,
  nodes: Array.from({ length: size }, (_, i) => node(i, { hub: i < hubs, region: `r${i % regions}` })),
}));

describe('overlay peers', () => {
  it('are a full mesh up to fullMeshMax nodes', () => {
    const nodes = Array.from({ length: 25 }, (_, i) => node(i, { hub: i < 2 }));
    const peers = planPeers('n003', nodes, settings);
    expect(peers).toHaveLength(24);
    expect(peers.find((p) => p.node === 'n004')).toEqual({ node: 'n004', publicKey: 'key4', endpoint: '[fd00::4]:51820', allowedIps: ['fd12:3456:789a:5::/64'] });
  });

  it('past fullMeshMax, go through hubs: a node peers with the hubs only, its own hub carrying the cluster prefix', () => {
    const nodes = Array.from({ length: 200 }, (_, i) => node(i, { hub: i < 4 }));
    const peers = planPeers('n100', nodes, settings);
    expect(peers.map((p) => p.node)).toEqual(['n000', 'n001', 'n002', 'n003']);
    expect(peers.filter((p) => p.allowedIps.includes(CLUSTER))).toHaveLength(1);
  });

  it('leave out nodes whose agent has published no key', () => {
    expect(planPeers('n000', [node(0), node(1, { publicKey: undefined }), node(2)], settings).map((p) => p.node)).toEqual(['n002']);
    expect(planPeers('n001', [node(0), node(1, { publicKey: undefined })], settings)).toEqual([]);
  });

  it('are symmetric, and every node reaches every other in at most two hops, whatever the shape', () => {
    fc.assert(fc.property(cluster, ({ nodes, fullMeshMax }) => {
      const peers = new Map(nodes.map((n) => [n.name, planPeers(n.name, nodes, { fullMeshMax, clusterPrefix: CLUSTER })]));
      for (const [name, list] of peers) for (const p of list) expect(peers.get(p.node)!.some((q) => q.node === name), `${p.node} peers back with ${name}`).toBe(true);
      for (const a of nodes) for (const b of nodes) if (a !== b) expect(hops(a.name, b, peers), `${a.name} → ${b.name}`).toBeLessThanOrEqual(2);
    }), { numRuns: 60 });
  }, 60_000);
});
