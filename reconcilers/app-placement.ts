/**
 * What an App's reconcile places, and what it reports and does after: the decisions around the
 * scheduler that the App controller used to make itself. Pure; controllers/app.ts observes,
 * calls these, and executes.
 *
 * - placementRefusal: the tenant's app count and sizes no node takes refuse placement outright.
 * - planAppPlacement: the plan's steps, without placing while something blocks it, and the
 *   scheduler request one 'place' step makes (controllers/place-instances.ts makes one attempt).
 * - attemptOutcome: one attempt's result for the status; fewer committed than planned is
 *   contention (another replica took the capacity).
 * - placementVerdict / appRequeueAfter: the verdict the status shows, and when to look again —
 *   contention becomes a requeue at a random moment (`random` injected), so racing replicas part.
 */
import { bytes, millicores } from '../api/quantity-units.js';
import type { App } from '../api/types/app.js';
import type { Tenant } from '../api/types/tenant.js';
import { appCountVerdict, type AppInstance, type AppPlan, type PlacementOutcome } from './app.js';
import type { AppVolumes } from './app-volumes.js';
import { PLACEMENT_BATCH, sizeProblem, type PlacementStrategy, type ScheduleResult, type TenantBudget } from './scheduler.js';

/** Why placing is refused before any node is looked at, with the instance's sizes. */
export interface PlacementRefusal {
  /** Bytes and millicores of one instance (spec.resources; cpu defaults to 100m). */
  readonly memory: number;
  readonly cpu: number;
  /** Over the tenant's app count, or sizes no node can take: nothing is placed (what runs keeps running). */
  readonly refused?: { readonly reason: string; readonly message: string };
}

/** The instance sizes of `app` and whether its tenant's app quota or the sizes refuse placing it. */
export function placementRefusal(app: App, tenant: Tenant, tenantApps: readonly App[]): PlacementRefusal {
  const overQuota = appCountVerdict(app, tenantApps, tenant.metadata.name, tenant.spec?.quota?.apps);
  const memory = bytes(app.spec!.resources.memory);
  const cpu = millicores(app.spec!.resources.cpu ?? '100m');
  const invalid = sizeProblem(memory, cpu);
  const refused = overQuota ?? (invalid ? { reason: 'InvalidResources', message: invalid } : undefined);
  return { memory, cpu, ...(refused ? { refused } : {}) };
}

/** The tenant's hard memory and instance quotas and soft CPU quota, in bytes, millicores and instances. */
export interface PlacementQuota {
  readonly memory?: number;
  readonly cpu?: number;
  readonly instances?: number;
}

/** What the scheduler is asked for one 'place' step, beside the step's revision. */
export interface PlacementAsk {
  /** Instances in this pass: at most PLACEMENT_BATCH. */
  readonly count: number;
  /** The step wants more than one batch: once this one is placed in full, the next comes at once. */
  readonly more: boolean;
  readonly memory: number;
  readonly cpu: number;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly strategy: PlacementStrategy;
  /** This App's running instances per node (spread balances against them). */
  readonly existingByNode: Readonly<Record<string, number>>;
  readonly quota: PlacementQuota;
  /** The only node allowed: where the App's volumes live. */
  readonly pinnedNode?: string;
}

export interface AppPlacementPlan {
  /** The plan to execute: planApp's, without 'place' steps while placement is blocked. */
  readonly plan: AppPlan;
  /** Placement is held (quota, sizes, volumes not placeable): what runs keeps running. */
  readonly blocked: boolean;
  /** The verdict should nothing be placed in this pass. */
  readonly outcome: PlacementOutcome;
  /** Nothing left to do for this revision: every replica ready, placement not held. */
  readonly converged: boolean;
}

/** Applies what blocks placement to `planned`: the tenant's app count, sizes, volumes with no node to run on. */
export function planAppPlacement(planned: AppPlan, refusal: PlacementRefusal, volumes: AppVolumes): AppPlacementPlan {
  // Over the tenant's app count, sizes no node can take, or its volumes not placeable: place
  // nothing (what runs keeps running) and say why.
  const held = refusal.refused ?? (volumes.pinnedNode ? undefined : volumes.unplaced);
  const plan = held ? { ...planned, steps: planned.steps.filter((s) => s.op !== 'place') } : planned;
  const unplaced = held ?? volumes.unplaced;
  const outcome: PlacementOutcome = { placed: 0, ...(unplaced ? { unplaced } : {}), ...(held && volumes.contended ? { contended: true } : {}) };
  return { plan, blocked: held !== undefined, outcome, converged: planned.requeueAfterMs === undefined && !held };
}

/** The scheduler request of a 'place' step of `count` instances of `app`. */
export function placementAsk(app: App, tenant: Tenant, instances: readonly AppInstance[], count: number, refusal: PlacementRefusal, volumes: AppVolumes): PlacementAsk {
  const spec = app.spec!;
  const existingByNode: Record<string, number> = {};
  for (const i of instances) if (i.desired === 'running') existingByNode[i.node] = (existingByNode[i.node] ?? 0) + 1;
  const quota = tenant.spec?.quota ?? {};
  const batch = Math.min(count, PLACEMENT_BATCH);
  return {
    count: batch,
    more: count > batch,
    memory: refusal.memory,
    cpu: refusal.cpu,
    nodeSelector: spec.placement?.nodeSelector ?? {},
    strategy: spec.placement?.strategy ?? 'binpack',
    existingByNode,
    quota: {
      ...(quota.memory !== undefined ? { memory: bytes(quota.memory) } : {}),
      ...(quota.cpu !== undefined ? { cpu: millicores(quota.cpu) } : {}),
      ...(quota.instances !== undefined ? { instances: quota.instances } : {}),
    },
    ...(volumes.pinnedNode ? { pinnedNode: volumes.pinnedNode } : {}),
  };
}

/** The tenant's budget for the scheduler: its quota and what its placed instances hold. */
export function tenantBudget(quota: PlacementQuota, usage: { readonly memory: number; readonly cpu: number; readonly instances: number }): TenantBudget {
  return {
    memoryUsed: usage.memory,
    cpuUsed: usage.cpu,
    instancesUsed: usage.instances,
    ...(quota.memory !== undefined ? { memoryLimit: quota.memory } : {}),
    ...(quota.cpu !== undefined ? { cpuLimit: quota.cpu } : {}),
    ...(quota.instances !== undefined ? { instancesLimit: quota.instances } : {}),
  };
}

/**
 * One placing attempt, for the status: how many went in, why the rest of the batch does not fit,
 * and whether to look again at once (`more`: the whole batch went in and more are wanted) or soon
 * (`contended`: fewer committed than the snapshot promised — other replicas took the capacity).
 */
export function attemptOutcome(result: ScheduleResult, committed: number, ask: Pick<PlacementAsk, 'count' | 'more'>): PlacementOutcome {
  if (committed < result.placements.length) return { placed: committed, contended: true };
  const unplaced = result.unplaced[0] ? { reason: result.unplaced[0].reason, message: result.unplaced.map((u) => u.message).join('; ') } : undefined;
  return {
    placed: committed,
    ...(unplaced ? { unplaced } : {}),
    ...(!unplaced && committed === ask.count && ask.more ? { more: true } : {}),
  };
}

/** The verdict the status shows after placing: a single-writer verdict still explains the replicas that were not asked for. */
export function placementVerdict(placed: PlacementOutcome, volumes: AppVolumes): PlacementOutcome {
  return !placed.unplaced && volumes.unplaced ? { ...placed, unplaced: volumes.unplaced } : placed;
}

/** Contention's requeue: 100 ms plus up to 300 ms at random, so replicas that raced part. */
export const CONTENTION_REQUEUE_MS = { base: 100, jitter: 300 } as const;

/**
 * When to look at the App again after this pass, in ms; undefined: converged, wait for a change.
 * `random` returns a number in [0, 1) (Math.random in production, seeded in tests).
 */
export function appRequeueAfter(plan: AppPlan, outcome: PlacementOutcome, random: () => number): number | undefined {
  // Lost the race for capacity to another replica: look again soon with a fresh view, not in 2 s.
  if (outcome.contended) return CONTENTION_REQUEUE_MS.base + Math.floor(random() * CONTENTION_REQUEUE_MS.jitter);
  // A full batch placed and more wanted: back of the queue at once, so other keys get their turn.
  if (outcome.more) return 0;
  return plan.requeueAfterMs;
}
