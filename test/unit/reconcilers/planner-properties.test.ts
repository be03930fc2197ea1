/**
 * Properties of the pure planners over random clusters and specs (fast-check): what the
 * example-based tests beside them check for a few hand-picked cases, here for thousands.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import { planApp, resolveIntOrPercent, templateOf, type AppInstance } from '../../../reconcilers/app.js';
import { schedule, type NodeCondition, type NodeView, type PlacementRequest, type TenantBudget } from '../../../reconcilers/scheduler.js';

const MiB = 2 ** 20;
const STATES: NodeCondition[] = ['ready', 'cordoned', 'draining', 'not-ready', 'decommissioned'];

const nodeArb = (i: number) =>
  fc.record({
    state: fc.constantFrom(...STATES),
    zone: fc.constantFrom('a', 'b'),
    allocatableMemory: fc.integer({ min: 0, max: 64 }).map((n) => n * 256 * MiB),
    allocatableCpu: fc.integer({ min: 0, max: 16_000 }),
    allocatedMemory: fc.integer({ min: 0, max: 64 }).map((n) => n * 128 * MiB),
    allocatedCpu: fc.integer({ min: 0, max: 16_000 }),
  }).map((n): NodeView => ({ name: `n${i}`, state: n.state, labels: { zone: n.zone }, allocatableMemory: n.allocatableMemory, allocatableCpu: n.allocatableCpu, allocatedMemory: n.allocatedMemory, allocatedCpu: n.allocatedCpu }));

const clusterArb = fc.integer({ min: 0, max: 12 }).chain((count) => fc.tuple(...Array.from({ length: count }, (_, i) => nodeArb(i))));

const requestArb = fc.record({
  app: fc.constantFrom('a/web', 'a/api', 'b/web', 'c/job'),
  count: fc.integer({ min: 0, max: 40 }),
  memory: fc.integer({ min: 1, max: 16 }).map((n) => n * 64 * MiB),
  cpu: fc.integer({ min: 1, max: 4_000 }), // 0 is refused (InvalidResources): it would fit without end
  strategy: fc.constantFrom('binpack' as const, 'spread' as const),
  zone: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
  pinned: fc.option(fc.integer({ min: 0, max: 11 }), { nil: undefined }),
}).map((r): PlacementRequest => ({
  app: r.app, tenant: r.app.split('/')[0]!, count: r.count, memory: r.memory, cpu: r.cpu, strategy: r.strategy,
  ...(r.zone ? { nodeSelector: { zone: r.zone } } : {}),
  ...(r.pinned !== undefined ? { pinnedNode: `n${r.pinned}` } : {}),
}));

const budgetArb = fc.record({
  memoryLimit: fc.option(fc.integer({ min: 0, max: 64 }).map((n) => n * 256 * MiB), { nil: undefined }),
  memoryUsed: fc.integer({ min: 0, max: 32 }).map((n) => n * 256 * MiB),
}).map((b): TenantBudget => ({ memoryUsed: b.memoryUsed, cpuUsed: 0, ...(b.memoryLimit !== undefined ? { memoryLimit: b.memoryLimit } : {}) }));

describe('schedule (properties)', () => {
  it('never overbooks memory, places only on ready nodes that match, respects pins, counts and hard quotas', () => {
    fc.assert(
      fc.property(clusterArb, fc.uniqueArray(requestArb, { selector: (r) => r.app, maxLength: 4 }), fc.record({ a: budgetArb, b: budgetArb, c: budgetArb }), (nodes, requests, budgets) => {
        const result = schedule(requests, nodes, budgets);
        const byName = new Map(nodes.map((n) => [n.name, n]));
        const memoryOf = new Map(requests.map((r) => [r.app, r.memory]));
        const placedMemory = new Map<string, number>();
        const tenantMemory = new Map<string, number>();
        const perApp = new Map<string, number>();
        for (const p of result.placements) {
          const node = byName.get(p.node)!;
          const request = requests.find((r) => r.app === p.app)!;
          expect(node.state).toBe('ready');
          for (const [k, v] of Object.entries(request.nodeSelector ?? {})) expect(node.labels[k]).toBe(v);
          perApp.set(p.app, (perApp.get(p.app) ?? 0) + 1);
          placedMemory.set(p.node, (placedMemory.get(p.node) ?? 0) + (memoryOf.get(p.app) ?? 0));
          tenantMemory.set(request.tenant, (tenantMemory.get(request.tenant) ?? 0) + request.memory);
        }
        for (const [name, memory] of placedMemory) {
          const node = byName.get(name)!;
          // Never pushes a node past what it offers (a node already over it takes nothing).
          expect(node.allocatedMemory + memory).toBeLessThanOrEqual(Math.max(node.allocatableMemory, node.allocatedMemory));
          if (node.allocatedMemory > node.allocatableMemory) expect(memory).toBe(0);
        }
        for (const [app, count] of perApp) {
          const request = requests.find((r) => r.app === app)!;
          expect(count).toBeLessThanOrEqual(request.count);
          if (request.pinnedNode) expect(result.placements.filter((p) => p.app === app).every((p) => p.node === request.pinnedNode)).toBe(true);
        }
        for (const [tenant, memory] of tenantMemory) {
          const budget = budgets[tenant as 'a' | 'b' | 'c'];
          if (budget.memoryLimit !== undefined) expect(budget.memoryUsed + memory).toBeLessThanOrEqual(Math.max(budget.memoryLimit, budget.memoryUsed));
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('places everything asked when one ready, unconstrained node has room for all of it', () => {
    fc.assert(
      fc.property(fc.uniqueArray(requestArb, { selector: (r) => r.app, maxLength: 4 }), (requests) => {
        const total = requests.reduce((sum, r) => sum + r.count * r.memory, 0);
        const cpu = requests.reduce((sum, r) => sum + r.count * r.cpu, 0);
        const node: NodeView = { name: 'big', state: 'ready', labels: {}, allocatableMemory: total, allocatableCpu: cpu, allocatedMemory: 0, allocatedCpu: 0 };
        const clean = requests.map(({ pinnedNode: _p, nodeSelector: _s, ...r }) => r);
        const result = schedule(clean, [node], {});
        expect(result.placements.length).toBe(clean.reduce((sum, r) => sum + r.count, 0));
        expect(result.unplaced).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});

function app(replicas: number, maxSurge: number | string, maxUnavailable: number | string, command: string): App {
  return {
    apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: 'acme', generation: 1 },
    spec: { replicas, command: ['node', command], resources: { memory: '64Mi' }, rollout: { maxSurge, maxUnavailable } },
  } as App;
}

const rolloutArb = fc.record({
  replicas: fc.integer({ min: 0, max: 12 }),
  maxSurge: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom('0%', '25%', '50%', '100%')),
  maxUnavailable: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom('0%', '25%', '50%')),
  // What runs now: instances of the current or an older revision, ready or not.
  instances: fc.array(fc.record({ old: fc.boolean(), ready: fc.boolean(), draining: fc.boolean() }), { maxLength: 16 }),
});

const now = new Date('2026-06-01T00:00:00Z');

function instancesOf(revision: string, shape: readonly { old: boolean; ready: boolean; draining: boolean }[]): AppInstance[] {
  return shape.map((s, i) => ({
    id: `i${i}`, revision: s.old ? 'oldrev' : revision, node: `n${i % 3}`, desired: 'running', phase: s.ready ? 'running' : 'starting',
    ready: s.ready, createdAt: new Date(now.getTime() - (100 - i) * 1_000), ...(s.draining ? { nodeDraining: true } : {}),
  }));
}

describe('planApp (properties)', () => {
  it('never stops ready instances below replicas − maxUnavailable while replacing, and never runs more than replicas + maxSurge', () => {
    fc.assert(
      fc.property(rolloutArb, (r) => {
        const a = app(r.replicas, r.maxSurge, r.maxUnavailable, 'server.mjs');
        const { revision } = templateOf(a);
        const instances = instancesOf(revision, r.instances);
        const plan = planApp(a, instances, { now });
        const surge = resolveIntOrPercent(r.maxSurge, r.replicas, '25%', 'up');
        let unavailable = resolveIntOrPercent(r.maxUnavailable, r.replicas, '25%', 'down');
        if (surge === 0 && unavailable === 0) unavailable = 1;
        const stopped = new Set(plan.steps.flatMap((s) => (s.op === 'stop' && s.why.startsWith('replaced by') || (s.op === 'stop' && s.why.includes('draining')) ? [s.id] : [])));
        const readyBefore = instances.filter((i) => i.ready).length;
        const readyAfter = instances.filter((i) => i.ready && !stopped.has(i.id)).length;
        expect(readyAfter).toBeGreaterThanOrEqual(Math.min(readyBefore, r.replicas - unavailable));
        const placed = plan.steps.reduce((sum, s) => sum + (s.op === 'place' ? s.count : 0), 0);
        if (placed > 0) expect(instances.length + placed).toBeLessThanOrEqual(r.replicas + surge);
      }),
      { numRuns: 3_000 },
    );
  });

  it('converges in a bounded number of reconciles when placed instances become ready', () => {
    fc.assert(
      fc.property(rolloutArb, (r) => {
        const a = app(r.replicas, r.maxSurge, r.maxUnavailable, 'server-v2.mjs');
        const { revision } = templateOf(a);
        let instances = instancesOf(revision, r.instances);
        let next = instances.length;
        const bound = 3 * (r.replicas + instances.length) + 5;
        for (let round = 0; round < bound; round++) {
          const plan = planApp(a, instances, { now });
          if (plan.requeueAfterMs === undefined) {
            expect(plan.steps).toEqual([]);
            expect(instances.filter((i) => i.desired === 'running')).toHaveLength(r.replicas);
            expect(instances.every((i) => i.revision === revision && i.ready && !i.nodeDraining)).toBe(true);
            return;
          }
          // The world's answer: a stop is done at once; instances of the current revision come up
          // ready (a placed one on a node that is not draining); old unready ones stay unready.
          const gone = new Set(plan.steps.flatMap((s) => (s.op === 'forget' ? [s.id] : [])));
          const stop = new Set(plan.steps.flatMap((s) => (s.op === 'stop' ? [s.id] : [])));
          instances = instances
            .filter((i) => !gone.has(i.id))
            .map((i) => (stop.has(i.id) ? { ...i, desired: 'stopped' as const, phase: 'stopped', ready: false } : i.revision === revision && i.desired === 'running' ? { ...i, phase: 'running', ready: true } : i));
          for (const s of plan.steps) {
            if (s.op !== 'place') continue;
            for (let k = 0; k < s.count; k++) instances.push({ id: `i${next++}`, revision, node: 'fresh', desired: 'running', phase: 'running', ready: true, createdAt: now });
          }
        }
        throw new Error(`not converged within ${bound} reconciles`);
      }),
      { numRuns: 1_000 },
    );
  });
});
