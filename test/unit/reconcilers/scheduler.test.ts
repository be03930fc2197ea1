import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../framework/testing/seeded-random.js';
import {
  schedule,
  sizeProblem,
  type NodeCondition,
  type NodeView,
  type PlacementRequest,
  type TenantBudget,
} from '../../../reconcilers/scheduler.js';

const Mi = 1024 ** 2;
const Gi = 1024 ** 3;

/** A node with `freeMemory` bytes and `freeCpu` millicores to offer. */
function node(name: string, freeMemory: number, extra: Partial<NodeView> & { freeCpu?: number } = {}): NodeView {
  const { freeCpu = 16_000, ...rest } = extra;
  return {
    name,
    state: 'ready',
    labels: {},
    allocatableMemory: 64 * Gi,
    allocatableCpu: 64_000,
    allocatedMemory: 64 * Gi - freeMemory,
    allocatedCpu: 64_000 - freeCpu,
    ...rest,
  };
}

function request(extra: Partial<PlacementRequest> = {}): PlacementRequest {
  return { app: 'acme/web', tenant: 'acme', count: 1, memory: 512 * Mi, cpu: 250, ...extra };
}

const nodesOf = (result: ReturnType<typeof schedule>) => result.placements.map((p) => p.node);


describe('schedule: strategies', () => {
  it('binpack fills the busiest fitting node first, then the next busiest', () => {
    const nodes = [node('a', 4 * Gi), node('b', 1 * Gi), node('c', 2 * Gi)];
    const result = schedule([request({ count: 4 })], nodes, {});
    expect(nodesOf(result)).toEqual(['b', 'b', 'c', 'c']);
    expect(result.unplaced).toEqual([]);
  });

  it('binpack is the strategy when none is given, and spread is not', () => {
    const nodes = [node('a', 4 * Gi), node('b', 1 * Gi)];
    expect(nodesOf(schedule([request({ count: 2 })], nodes, {}))).toEqual(['b', 'b']);
    expect(nodesOf(schedule([request({ count: 2, strategy: 'spread' })], nodes, {}))).toEqual(['a', 'b']);
  });

  it('binpack skips a busier node whose cpu is used up', () => {
    const nodes = [node('a', 4 * Gi), node('b', 1 * Gi, { freeCpu: 100 })];
    expect(nodesOf(schedule([request()], nodes, {}))).toEqual(['a']);
  });

  it('binpack breaks ties by node name, whatever order the nodes come in', () => {
    const nodes = [node('m', 2 * Gi), node('a', 2 * Gi), node('z', 2 * Gi)];
    expect(nodesOf(schedule([request({ count: 5 })], nodes, {}))).toEqual(['a', 'a', 'a', 'a', 'm']);
  });

  it('spread puts the next instance where the app has the fewest, counting existing ones and those just placed', () => {
    const nodes = [node('a', 8 * Gi), node('b', 8 * Gi), node('c', 8 * Gi)];
    const result = schedule([request({ count: 3, strategy: 'spread', existingByNode: { a: 2, b: 1 } })], nodes, {});
    // c (0) first; then b and c both have 1 and b has more free memory; then c has the fewest again.
    expect(nodesOf(result)).toEqual(['c', 'b', 'c']);
  });

  it('spread balances a large request evenly over the nodes', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4'].map((n) => node(n, 32 * Gi));
    const result = schedule([request({ count: 40, strategy: 'spread' })], nodes, {});
    const perNode = new Map<string, number>();
    for (const n of nodesOf(result)) perNode.set(n, (perNode.get(n) ?? 0) + 1);
    expect([...perNode.values()]).toEqual([10, 10, 10, 10]);
  });

  it('spread prefers the node with more free memory among nodes with equally many instances', () => {
    const nodes = [node('a', 2 * Gi), node('b', 6 * Gi), node('c', 4 * Gi)];
    expect(nodesOf(schedule([request({ strategy: 'spread' })], nodes, {}))).toEqual(['b']);
  });

  it('spread skips a node the app is absent from when it cannot fit there', () => {
    const nodes = [node('a', 8 * Gi), node('b', 256 * Mi)];
    const result = schedule([request({ count: 2, strategy: 'spread', existingByNode: { a: 5 } })], nodes, {});
    expect(nodesOf(result)).toEqual(['a', 'a']);
  });
});

describe('schedule: capacity', () => {
  it('never overbooks memory or cpu across a batch of many random requests (200 seeds)', () => {
    const states: NodeCondition[] = ['ready', 'ready', 'ready', 'cordoned', 'not-ready'];
    let totalPlaced = 0;
    let totalUnschedulable = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const rand = seededRandom(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const nodes: NodeView[] = Array.from({ length: 1 + Math.floor(rand() * 12) }, (_, i) => {
        const allocatableMemory = pick([2, 4, 8, 16]) * Gi;
        const allocatableCpu = pick([2_000, 8_000, 16_000]);
        return {
          name: `node-${i}`,
          state: pick(states),
          labels: { zone: pick(['a', 'b']) },
          allocatableMemory,
          allocatableCpu,
          allocatedMemory: Math.floor(rand() * allocatableMemory * 0.5),
          allocatedCpu: Math.floor(rand() * allocatableCpu * 0.5),
        };
      });
      const requests = Array.from({ length: 1 + Math.floor(rand() * 30) }, (_, i): PlacementRequest => ({
        app: `ns/app-${i}`,
        tenant: pick(['t1', 't2']),
        count: 1 + Math.floor(rand() * 8),
        memory: pick([128, 256, 512, 1024, 3072]) * Mi,
        cpu: pick([100, 250, 500, 2_000]),
        strategy: pick(['binpack', 'spread'] as const),
        nodeSelector: rand() < 0.2 ? { zone: pick(['a', 'b']) } : {},
      }));

      const result = schedule(requests, nodes, {});

      const byName = new Map(nodes.map((n) => [n.name, { ...n }]));
      const size = new Map(requests.map((r) => [r.app, r]));
      for (const p of result.placements) {
        const n = byName.get(p.node)!;
        const r = size.get(p.app)!;
        expect(n.state, `seed ${seed}`).toBe('ready');
        for (const [k, v] of Object.entries(r.nodeSelector ?? {})) expect(n.labels[k], `seed ${seed}`).toBe(v);
        n.allocatedMemory += r.memory;
        n.allocatedCpu += r.cpu;
      }
      for (const n of byName.values()) {
        expect(n.allocatedMemory, `seed ${seed} ${n.name}`).toBeLessThanOrEqual(n.allocatableMemory);
        expect(n.allocatedCpu, `seed ${seed} ${n.name}`).toBeLessThanOrEqual(n.allocatableCpu);
      }
      for (const r of requests) {
        const placed = result.placements.filter((p) => p.app === r.app).length;
        const left = result.unplaced.filter((u) => u.app === r.app).reduce((sum, u) => sum + u.count, 0);
        expect(placed + left, `seed ${seed} ${r.app}`).toBe(r.count);
      }
      totalPlaced += result.placements.length;
      totalUnschedulable += result.unplaced.length;
    }
    // The cases must actually press against capacity, or the assertions above prove nothing.
    expect(totalPlaced).toBeGreaterThan(1_000);
    expect(totalUnschedulable).toBeGreaterThan(100);
  });

  it('places cpu up to the overcommitted allowance and not one millicore beyond', () => {
    // 2 cores × cpuOvercommitRatio 4 − 100m reserved, as reconcilers/node.ts computes it.
    const twoCores: NodeView = {
      name: 'n1',
      state: 'ready',
      labels: {},
      allocatableMemory: 64 * Gi,
      allocatableCpu: 2_000 * 4 - 100,
      allocatedMemory: 0,
      allocatedCpu: 0,
    };
    const result = schedule([request({ count: 33, memory: 64 * Mi })], [twoCores], {});
    expect(result.placements).toHaveLength(31);
    expect(result.unplaced).toEqual([
      {
        app: 'acme/web',
        count: 2,
        reason: 'Unschedulable',
        message: '31 of 33 instances placed; 0/1 nodes can run 2 more instances of 64Mi/250m: 1 insufficient cpu (largest free 150m)',
      },
    ]);
  });

  it('does not overcommit memory: an instance 1 byte too large stays unplaced', () => {
    const result = schedule([request({ memory: 512 * Mi + 1 })], [node('n1', 512 * Mi)], {});
    expect(result.placements).toEqual([]);
    expect(result.unplaced[0]?.reason).toBe('Unschedulable');
  });
});

describe('schedule: which nodes are eligible', () => {
  it.each([
    ['cordoned', 'cordoned'],
    ['draining', 'draining'],
    ['not-ready', 'not ready'],
    ['decommissioned', 'decommissioned'],
  ] as const)('never places on a %s node and says so', (state, words) => {
    const result = schedule([request()], [node('n1', 8 * Gi, { state })], {});
    expect(result.placements).toEqual([]);
    expect(result.unplaced).toEqual([
      { app: 'acme/web', count: 1, reason: 'Unschedulable', message: `0/1 nodes can run 1 instance of 512Mi/250m: 1 ${words}` },
    ]);
  });

  it('uses only nodes carrying every label of the node selector', () => {
    const nodes = [
      node('a', 1 * Gi, { labels: { zone: 'a' } }),
      node('b', 2 * Gi, { labels: { zone: 'b', disk: 'ssd' } }),
      node('c', 4 * Gi, { labels: { zone: 'b' } }),
    ];
    const selector = { zone: 'b', disk: 'ssd' };
    const result = schedule([request({ count: 5, nodeSelector: selector })], nodes, {});
    expect(nodesOf(result)).toEqual(['b', 'b', 'b', 'b']);
    expect(result.unplaced[0]?.message).toBe(
      '4 of 5 instances placed; 0/3 nodes can run 1 more instance of 512Mi/250m: 2 node selector mismatch, 1 insufficient memory (largest free 0)',
    );
  });

  it('places a pinned app on its node even when another node is busier', () => {
    const nodes = [node('n1', 1 * Gi), node('n2', 8 * Gi), node('n3', 2 * Gi)];
    expect(nodesOf(schedule([request({ count: 2, pinnedNode: 'n2' })], nodes, {}))).toEqual(['n2', 'n2']);
  });

  it("says that a pinned app's node is not ready rather than listing the other nodes", () => {
    const nodes = [node('node-1', 8 * Gi), node('node-2', 8 * Gi, { state: 'not-ready' }), node('node-3', 8 * Gi), node('node-4', 8 * Gi), node('node-5', 8 * Gi)];
    const result = schedule([request({ pinnedNode: 'node-2' })], nodes, {});
    expect(result.placements).toEqual([]);
    expect(result.unplaced[0]?.message).toBe("0/5 nodes can run 1 instance of 512Mi/250m: its volume's node node-2 is not ready");
  });

  it("says when a pinned app's node is full or unknown", () => {
    const nodes = [node('node-1', 8 * Gi), node('node-2', 256 * Mi)];
    expect(schedule([request({ pinnedNode: 'node-2' })], nodes, {}).unplaced[0]?.message).toBe(
      "0/2 nodes can run 1 instance of 512Mi/250m: its volume's node node-2 has insufficient memory (256Mi free)",
    );
    expect(schedule([request({ pinnedNode: 'node-9' })], nodes, {}).unplaced[0]?.message).toBe(
      "0/2 nodes can run 1 instance of 512Mi/250m: its volume's node node-9 is not a known node",
    );
  });

  it('never places on a node the request avoids, and counts it as avoided', () => {
    const nodes = [node('a', 1 * Gi), node('b', 2 * Gi)];
    const result = schedule([request({ count: 5, avoidNodes: ['a'] })], nodes, {});
    expect(nodesOf(result)).toEqual(['b', 'b', 'b', 'b']);
    expect(result.unplaced[0]?.message).toBe(
      '4 of 5 instances placed; 0/2 nodes can run 1 more instance of 512Mi/250m: 1 avoided, 1 insufficient memory (largest free 0)',
    );
  });
});

describe('schedule: tenant quota', () => {
  it('places no instance past spec.quota.instances, counting those placed in the same batch, and names the quota', () => {
    const budgets: Record<string, TenantBudget> = { acme: { memoryUsed: 0, cpuUsed: 0, instancesLimit: 5, instancesUsed: 2 } };
    const result = schedule([request({ app: 'acme/a', count: 2 }), request({ app: 'acme/b', count: 3 })], [node('n1', 8 * Gi)], budgets);
    expect(result.placements.map((p) => p.app)).toEqual(['acme/a', 'acme/a', 'acme/b']);
    expect(result.unplaced).toEqual([
      { app: 'acme/b', count: 2, reason: 'QuotaExceeded', message: "tenant acme's instance quota (spec.quota.instances): 5 of 5 placed, 2 more not placed" },
    ]);
  });

  it('names the quota that binds tighter when memory and instance quotas both fall short', () => {
    const budgets: Record<string, TenantBudget> = { acme: { memoryLimit: 2 * Gi, memoryUsed: 0, cpuUsed: 0, instancesLimit: 10, instancesUsed: 0 } };
    const result = schedule([request({ count: 20 })], [node('n1', 16 * Gi)], budgets);
    expect(result.placements).toHaveLength(4);
    expect(result.unplaced).toMatchObject([{ count: 16, reason: 'QuotaExceeded', message: expect.stringContaining('memory quota') }]);
  });

  it('places no instance that would take the tenant past its memory quota, and says by how much', () => {
    const budgets: Record<string, TenantBudget> = { acme: { memoryLimit: 2 * Gi, memoryUsed: 1792 * Mi, cpuUsed: 0 } };
    const result = schedule([request()], [node('n1', 8 * Gi)], budgets);
    expect(result.placements).toEqual([]);
    expect(result.unplaced).toEqual([
      { app: 'acme/web', count: 1, reason: 'QuotaExceeded', message: "tenant acme's memory quota: 1792Mi of 2Gi used, 512Mi more needed" },
    ]);
  });

  it('counts instances placed earlier in the same batch against the memory quota', () => {
    const budgets: Record<string, TenantBudget> = { acme: { memoryLimit: 2 * Gi, memoryUsed: 0, cpuUsed: 0 } };
    const result = schedule([request({ app: 'acme/a', count: 3 }), request({ app: 'acme/b', count: 3 })], [node('n1', 8 * Gi)], budgets);
    expect(result.placements.map((p) => p.app)).toEqual(['acme/a', 'acme/a', 'acme/a', 'acme/b']);
    expect(result.unplaced).toEqual([
      { app: 'acme/b', count: 2, reason: 'QuotaExceeded', message: "tenant acme's memory quota: 2Gi of 2Gi used, 1Gi more needed for 2 instances" },
    ]);
  });

  it("leaves other tenants' quotas out of it", () => {
    const budgets: Record<string, TenantBudget> = { other: { memoryLimit: 0, memoryUsed: 0, cpuUsed: 0 } };
    expect(schedule([request()], [node('n1', 8 * Gi)], budgets).placements).toHaveLength(1);
  });

  it('reports quota and capacity shortfalls of one request separately', () => {
    const budgets: Record<string, TenantBudget> = { acme: { memoryLimit: 2 * Gi, memoryUsed: 0, cpuUsed: 0 } };
    const result = schedule([request({ count: 6 })], [node('n1', 1 * Gi)], budgets);
    expect(result.placements).toHaveLength(2);
    expect(result.unplaced).toEqual([
      {
        app: 'acme/web',
        count: 2,
        reason: 'Unschedulable',
        message: '2 of 6 instances placed; 0/1 nodes can run 2 more instances of 512Mi/250m: 1 insufficient memory (largest free 0)',
      },
      { app: 'acme/web', count: 2, reason: 'QuotaExceeded', message: "tenant acme's memory quota: 1Gi of 2Gi used, 1Gi more needed for 2 instances" },
    ]);
  });

  it('places instances past the cpu quota anyway and warns', () => {
    const budgets: Record<string, TenantBudget> = { acme: { cpuLimit: 4_000, cpuUsed: 4_000, memoryUsed: 0 } };
    const result = schedule([request({ count: 2 })], [node('n1', 8 * Gi)], budgets);
    expect(result.placements).toHaveLength(2);
    expect(result.unplaced).toEqual([]);
    expect(result.warnings).toEqual([
      {
        app: 'acme/web',
        reason: 'CPUQuotaExceeded',
        message: "tenant acme's cpu quota: 4500m of 4 used after placing 2 instances; cpu is a soft limit, so they were placed anyway",
      },
    ]);
  });

  it('does not warn while the tenant stays within its cpu quota', () => {
    const budgets: Record<string, TenantBudget> = { acme: { cpuLimit: 4_000, cpuUsed: 3_500, memoryUsed: 0 } };
    expect(schedule([request({ count: 2 })], [node('n1', 8 * Gi)], budgets).warnings).toEqual([]);
  });
});

describe('schedule: messages', () => {
  it('explains an unschedulable instance by counting each node under its first failing reason', () => {
    const nodes = [
      node('n1', 256 * Mi),
      node('n2', 128 * Mi),
      node('n3', 8 * Gi, { state: 'cordoned' }),
      node('n4', 8 * Gi, { state: 'not-ready' }),
      node('n5', 64 * Mi, { freeCpu: 0 }),
    ];
    expect(schedule([request()], nodes, {}).unplaced).toEqual([
      {
        app: 'acme/web',
        count: 1,
        reason: 'Unschedulable',
        message: '0/5 nodes can run 1 instance of 512Mi/250m: 3 insufficient memory (largest free 256Mi), 1 cordoned, 1 not ready',
      },
    ]);
  });

  it('says how many were placed when only some instances fit', () => {
    const nodes = [node('n1', 1 * Gi), node('n2', 256 * Mi), node('n3', 8 * Gi, { state: 'draining' })];
    expect(schedule([request({ count: 3 })], nodes, {}).unplaced[0]?.message).toBe(
      '2 of 3 instances placed; 0/3 nodes can run 1 more instance of 512Mi/250m: 2 insufficient memory (largest free 256Mi), 1 draining',
    );
  });

  it('names the largest free cpu among the nodes short of cpu', () => {
    const nodes = [node('n1', 8 * Gi, { freeCpu: 200 }), node('n2', 8 * Gi, { freeCpu: 100 })];
    expect(schedule([request({ count: 2 })], nodes, {}).unplaced[0]?.message).toBe(
      '0/2 nodes can run 2 instances of 512Mi/250m: 2 insufficient cpu (largest free 200m)',
    );
  });

  it('says there are no nodes when there are none', () => {
    expect(schedule([request()], [], {}).unplaced[0]?.message).toBe('0/0 nodes can run 1 instance of 512Mi/250m: there are no nodes');
  });
});

describe('schedule: determinism', () => {
  const nodes = Array.from({ length: 20 }, (_, i) => node(`node-${String(i).padStart(2, '0')}`, (1 + (i % 4)) * Gi));
  const requests = Array.from({ length: 30 }, (_, i) =>
    request({ app: `ns/app-${i}`, count: 1 + (i % 3), memory: (128 << (i % 3)) * Mi, strategy: i % 2 ? 'spread' : 'binpack' }),
  );

  it('gives the same answer for the same input', () => {
    expect(schedule(requests, nodes, {})).toEqual(schedule(requests, nodes, {}));
  });

  it('gives the same answer whatever order the nodes are listed in', () => {
    const reversed = [...nodes].reverse();
    expect(schedule(requests, reversed, {})).toEqual(schedule(requests, nodes, {}));
  });

  it('does not change its input', () => {
    const before = structuredClone(nodes);
    schedule(requests, nodes, {});
    expect(nodes).toEqual(before);
  });
});

describe('schedule: instances per node', () => {
  it('puts no more than maxInstances on a node, counting those already there, and says so', () => {
    const nodes = [node('a', 8 * Gi, { maxInstances: 5, allocatedInstances: 3 }), node('b', 8 * Gi, { maxInstances: 5, allocatedInstances: 5 })];
    const result = schedule([request({ memory: 1, cpu: 1, count: 4 })], nodes, {});
    expect(nodesOf(result)).toEqual(['a', 'a']);
    expect(result.unplaced).toEqual([
      { app: 'acme/web', count: 2, reason: 'Unschedulable', message: '2 of 4 instances placed; 0/2 nodes can run 2 more instances of 1/1m: 2 at the instance limit' },
    ]);
  });

  it('spread also stops at the limit', () => {
    const nodes = [node('a', 8 * Gi, { maxInstances: 1 }), node('b', 8 * Gi, { maxInstances: 2 })];
    expect(nodesOf(schedule([request({ count: 5, strategy: 'spread' })], nodes, {})).sort()).toEqual(['a', 'b', 'b']);
  });
});

describe('schedule: sizes that would fit without end', () => {
  it('refuses a request that rounds to 0 bytes or 0 millicores, or is not finite, naming the field', () => {
    const result = schedule(
      [request({ app: 'acme/zero', memory: 0 }), request({ app: 'acme/nocpu', cpu: 0 }), request({ app: 'acme/inf', memory: Infinity, count: 3 })],
      [node('n1', 8 * Gi)],
      {},
    );
    expect(result.placements).toEqual([]);
    expect(result.unplaced).toEqual([
      { app: 'acme/zero', count: 1, reason: 'InvalidResources', message: 'spec.resources.memory rounds to 0 bytes: an instance needs at least 1 byte (1Mi or more in practice)' },
      { app: 'acme/nocpu', count: 1, reason: 'InvalidResources', message: 'spec.resources.cpu rounds to 0 millicores: an instance needs at least 1m' },
      { app: 'acme/inf', count: 3, reason: 'InvalidResources', message: 'spec.resources.memory is larger than any node could offer' },
    ]);
    expect(sizeProblem(NaN, 1)).toBe('spec.resources.memory is not a number');
    expect(sizeProblem(1, 1)).toBeUndefined();
  });

  it('places a batch of the smallest instances as a finite count and stops at the node\'s cpu', () => {
    const result = schedule([request({ memory: 1, cpu: 1, count: 100_000 })], [node('n1', 8 * Gi, { freeCpu: 500 })], {});
    expect(result.placements).toHaveLength(500);
    expect(result.unplaced).toMatchObject([{ count: 99_500, reason: 'Unschedulable' }]);
  });
});

describe('schedule: isolation', () => {
  it('places nothing on a node that is not isolated, and counts it in the message', () => {
    const nodes = [node('open', 8 * Gi, { isolated: false }), node('boxed', 1 * Gi)];
    const result = schedule([request({ count: 3 })], nodes, {});
    expect(nodesOf(result)).toEqual(['boxed', 'boxed']);
    expect(result.unplaced).toEqual([expect.objectContaining({ reason: 'Unschedulable', count: 1, message: expect.stringContaining('1 not isolated') })]);
    expect(nodesOf(schedule([request()], [node('open', 8 * Gi, { isolated: true })], {}))).toEqual(['open']); // as liveNodes marks it when the cluster allows unisolated nodes
  });
});

