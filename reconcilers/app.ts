/**
 * The App planner: an App's spec × its instances in PostgreSQL → the steps of one reconcile
 * (place new instances, stop old ones, forget stopped ones) and the status to report. Pure.
 *
 * Rollouts follow Deployments: at most `replicas + maxSurge` instances run, at least
 * `replicas − maxUnavailable` stay ready, and old instances stop only as new ones become ready.
 * Instances on a draining node count as old (replaced first, then stopped); instances on a node
 * lost for longer than `lostGraceMs` are stopped so replacements can be placed elsewhere.
 */
import type { App, AppStatus } from '../api/types/app.js';
import type { InstanceTemplate } from '../api/types/instance.js';
import { type Condition, type ConditionUpdate, hash32, readySummary, setCondition } from '../framework/index.js';
import { secretRefsOf } from './app-secrets.js';
import { crashLooping, describeCrashLoop, exitText } from './crash-loop.js';

/** One instance of the app, as PostgreSQL and the node's liveness show it. */
export interface AppInstance {
  readonly id: string;
  readonly revision: string;
  readonly node: string;
  readonly desired: 'running' | 'stopped';
  readonly phase: string | null;
  readonly ready: boolean;
  readonly createdAt: Date;
  /** When the node's agent was last heard from, if the node is lost now. */
  readonly nodeLostSince?: Date;
  readonly nodeDraining?: boolean;
  /** The node's drain deadline has passed: what is left there stops, replaced or not. */
  readonly nodeDrainExpired?: boolean;
  /** As the agent reported them. */
  readonly restarts?: number;
  readonly lastExit?: {
    readonly reason: string;
    readonly code: number | null;
    readonly signal?: string | null;
    /** RFC 3339: when the process exited. */
    readonly at?: string;
    /** RFC 3339: when the runtime starts it again after this exit (CrashLoopBackOff back-off). */
    readonly restartAt?: string;
    readonly message?: string;
  } | null;
  /** Its environment was sealed to a key its node no longer has (a new state folder): it cannot start there. */
  readonly sealedStale?: boolean;
  /** Phase 'failed': why its node's agent will not run it (RuntimeUnavailable, InvalidCommand, …). */
  readonly reason?: string | null;
  readonly message?: string | null;
  /** When the App controller first found the instance's namespace owned by no Tenant (cleared when one claims it). */
  readonly noTenantSince?: Date;
  /** The volumes its template mounts (namespace/name). */
  readonly volumes?: readonly string[];
}

export type AppStep =
  | { readonly op: 'place'; readonly revision: string; readonly count: number }
  | { readonly op: 'stop'; readonly id: string; readonly why: string }
  | { readonly op: 'forget'; readonly id: string };

export interface AppPlan {
  readonly revision: string;
  readonly template: InstanceTemplate;
  readonly steps: readonly AppStep[];
  /** Look again after this long while the app is not converged. */
  readonly requeueAfterMs: number | undefined;
}

/** What the executor learned while placing (the scheduler's verdict), for the status. */
export interface PlacementOutcome {
  readonly placed: number;
  readonly unplaced?: { readonly reason: string; readonly message: string };
  /** Other replicas took the capacity first: look again soon with a fresh view. */
  readonly contended?: boolean;
  /** A full batch was placed and more instances are wanted: look again at once. */
  readonly more?: boolean;
}

export interface AppEnv {
  readonly now: Date;
  /** A lost node's stateless instances are replaced after this long. @default 30_000 */
  readonly lostGraceMs?: number;
  /** What keeps a stateful App's instance from running, from its volumes (node lost, …). */
  readonly volumeBlocked?: { readonly reason: string; readonly message: string };
  /** A volume of the App holds more than its spec.size (the process runtime cannot enforce it): VolumesWithinSize=False SizeExceeded. */
  readonly volumeOverSize?: string;
  /**
   * Volumes it mounts that another App holds (reconcilers/volume-claims.ts): an instance of it
   * mounting one stops (one writer), whatever else the plan says.
   */
  readonly volumeHeldElsewhere?: readonly string[];
  /**
   * The tenant keeps the App from running (`TenantSuspended`, `NoTenant`): nothing is placed or
   * rolled out, and with `stop` every instance stops — the App itself and its volumes are kept.
   */
  readonly tenantBlocked?: TenantBlock;
  /** Version of each Secret the env references (by name), from reconcilers/app-secrets.ts: part of the revision. */
  readonly secretVersions?: Readonly<Record<string, string>>;
  /**
   * An automatic rollback in force (reconcilers/app-revisions.ts): the spec's revision `failed`
   * (`why`), and the App planned is the one rolled back to. Progressing=False RolledBack.
   */
  readonly rolledBack?: { readonly failed: string; readonly why: string };
}

/**
 * Why the App may not start instances — its tenant (suspended, none), or a Secret its env needs
 * (missing: nothing starts with part of its environment) — and whether its instances stop now.
 */
export interface TenantBlock {
  readonly reason: 'TenantSuspended' | 'NoTenant' | 'SecretNotFound';
  readonly message: string;
  readonly stop: boolean;
}

/** Whether the App mounts volumes: its one instance stays where its data is (single writer). */
export function isStateful(app: App): boolean {
  return (app.spec?.volumes?.length ?? 0) > 0;
}

/** The instance template of the spec, and its revision (a hash of everything an instance runs with). */
export function templateOf(app: App, secretVersions: Readonly<Record<string, string>> = {}): { template: InstanceTemplate; revision: string } {
  const spec = app.spec!;
  const hc = spec.healthCheck;
  const refs = secretRefsOf(app);
  const template: InstanceTemplate = {
    command: [...(spec.command ?? []), ...(spec.args ?? [])],
    // Only for image Apps, so a command App's template, and so its revision, is what it was.
    ...(spec.image !== undefined ? { image: spec.image } : {}),
    env: Object.fromEntries((spec.env ?? []).filter((e) => !e.valueFrom).map((e) => [e.name, e.value ?? ''])),
    ...(refs.length ? { secretEnv: refs.map((r) => ({ name: r.env, secret: `${app.metadata.namespace}/${r.secret}`, key: r.key })) } : {}),
    ...(hc ? { healthCheck: { path: hc.httpGet.path, periodSeconds: hc.periodSeconds ?? 10, timeoutSeconds: hc.timeoutSeconds ?? 1, failureThreshold: hc.failureThreshold ?? 3 } } : {}),
    ...(spec.volumes?.length ? { volumes: spec.volumes.map((v) => ({ volume: `${app.metadata.namespace}/${v.volume}`, mountPath: v.mountPath })) } : {}),
  };
  // With Secrets only, so the revision of an App without any is what it was.
  const secrets = refs.length ? { secrets: Object.fromEntries(refs.map((r) => [r.secret, secretVersions[r.secret] ?? null])) } : {};
  const identity = JSON.stringify({ template, image: spec.image ?? null, port: spec.port ?? null, resources: spec.resources, volumes: spec.volumes ?? [], ...secrets });
  const revision = (hash32(identity).toString(16).padStart(8, '0') + hash32(`${identity.length}:${identity}`).toString(16).padStart(8, '0')).slice(0, 10);
  return { template, revision };
}

/** Resolves maxSurge / maxUnavailable: a number, or a percentage of replicas rounded up or down. */
export function resolveIntOrPercent(value: number | string | undefined, replicas: number, fallback: string, round: 'up' | 'down'): number {
  const v = value ?? fallback;
  if (typeof v === 'number') return v;
  const percent = Number(v.replace('%', ''));
  const exact = (percent * replicas) / 100;
  return round === 'up' ? Math.ceil(exact) : Math.floor(exact);
}

/** maxSurge and maxUnavailable for `replicas`, as the planner applies them: a volume's single writer never surges, and they are never both 0. */
export function rolloutBounds(app: App, replicas: number): { readonly surge: number; readonly unavailable: number } {
  const surge = isStateful(app) ? 0 : resolveIntOrPercent(app.spec?.rollout?.maxSurge, replicas, '25%', 'up');
  const unavailable = resolveIntOrPercent(app.spec?.rollout?.maxUnavailable, replicas, '25%', 'down');
  return { surge, unavailable: surge === 0 && unavailable === 0 ? 1 : unavailable }; // the CRD rejects both 0; never deadlock
}

/**
 * How many ready instances keep the App Available: a Deployment's minimum, `replicas −
 * maxUnavailable`, and at least one while any is asked for (a single instance that stops for its
 * rollout is an outage). A scale-up raises the bar only as its new instances become ready: while
 * the App was Available, the instances it counted then (`status.readyReplicas`) are enough, so a
 * healthy change never turns Ready False — Progressing says the new ones are on their way.
 */
export function availableMinimum(app: App, replicas: number): number {
  if (replicas === 0) return 0;
  const minimum = Math.max(1, replicas - rolloutBounds(app, replicas).unavailable);
  const wasAvailable = app.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') ?? false;
  return wasAvailable ? Math.max(1, Math.min(minimum, app.status?.readyReplicas ?? 0)) : minimum;
}

/** Plans one reconcile of `app`. */
export function planApp(app: App, instances: readonly AppInstance[], env: AppEnv): AppPlan {
  const { template, revision } = templateOf(app, env.secretVersions);
  const stateful = isStateful(app);
  // A volume has one writer: at most one instance, and a new one starts only after the old stopped.
  const replicas = stateful ? Math.min(app.spec?.replicas ?? 1, 1) : (app.spec?.replicas ?? 1);
  const { surge, unavailable } = rolloutBounds(app, replicas);
  const now = env.now.getTime();
  const lostGraceMs = env.lostGraceMs ?? 30_000;
  const steps: AppStep[] = [];

  // Stopped instances leave once their agent reports them stopped (or their node is gone for good).
  for (const i of instances) {
    if (i.desired === 'stopped' && (i.phase === 'stopped' || i.nodeLostSince !== undefined)) steps.push({ op: 'forget', id: i.id });
  }
  const blocked = env.tenantBlocked;
  if (blocked) {
    // Held by the tenant: what runs keeps running until `stop`, then everything stops; nothing starts.
    if (blocked.stop) for (const i of instances) if (i.desired === 'running') steps.push({ op: 'stop', id: i.id, why: blocked.reason });
    const settled = steps.length === 0 && (!blocked.stop || instances.length === 0);
    return { revision, template, steps, requeueAfterMs: settled ? undefined : 2_000 };
  }
  // Stateless instances on a node lost past the grace period are given up and replaced; a stateful
  // one stays: its data is on that node (its status says what to do instead).
  const stopped = new Set<string>();
  const heldElsewhere = new Set(env.volumeHeldElsewhere ?? []);
  for (const i of instances) {
    const held = i.volumes?.find((v) => heldElsewhere.has(v));
    if (i.desired === 'running' && held) {
      steps.push({ op: 'stop', id: i.id, why: `volume ${held} is held by another App` });
      stopped.add(i.id);
      continue;
    }
    if (stateful) continue;
    if (i.desired === 'running' && i.nodeLostSince && now - i.nodeLostSince.getTime() > lostGraceMs) {
      steps.push({ op: 'stop', id: i.id, why: `node ${i.node} lost since ${i.nodeLostSince.toISOString()}` });
      stopped.add(i.id);
    } else if (i.desired === 'running' && i.nodeDrainExpired) {
      steps.push({ op: 'stop', id: i.id, why: `node ${i.node}'s drain deadline passed` });
      stopped.add(i.id);
    }
  }
  const live = instances.filter((i) => i.desired === 'running' && !stopped.has(i.id));
  // Draining moves stateless instances; a stateful one stays with its volume. An instance sealed
  // to a key its node lost can never start there: it is replaced like an old revision.
  const leaving = (i: AppInstance) => (Boolean(i.nodeDraining) && !stateful) || Boolean(i.sealedStale);
  const current = live.filter((i) => i.revision === revision && !leaving(i));
  const old = live.filter((i) => i.revision !== revision || leaving(i));
  const readyCount = (list: readonly AppInstance[]) => list.filter((i) => i.ready).length;

  // Up: new instances, within replicas + maxSurge in total.
  const toPlace = Math.max(0, Math.min(replicas - current.length, replicas + surge - live.length));
  if (toPlace > 0) steps.push({ op: 'place', revision, count: toPlace });

  // Down: old instances, never below replicas − maxUnavailable ready. Unready old ones go first:
  // they serve nobody.
  let budget = readyCount(live) - (replicas - unavailable);
  const byAge = (a: AppInstance, b: AppInstance) => b.createdAt.getTime() - a.createdAt.getTime();
  for (const i of [...old].sort((a, b) => Number(a.ready) - Number(b.ready) || byAge(a, b))) {
    if (i.ready) {
      if (budget <= 0) break;
      budget--;
    }
    const why = i.sealedStale ? `its environment is sealed to a key node ${i.node} no longer has` : leaving(i) ? `node ${i.node} is draining` : `replaced by revision ${revision}`;
    steps.push({ op: 'stop', id: i.id, why });
  }
  // Scale down: current instances beyond replicas, unready and newest first.
  const extra = current.length - replicas;
  if (extra > 0) {
    for (const i of [...current].sort((a, b) => Number(a.ready) - Number(b.ready) || byAge(a, b)).slice(0, extra)) {
      steps.push({ op: 'stop', id: i.id, why: `scaled down to ${replicas}` });
    }
  }
  const converged = steps.length === 0 && old.length === 0 && current.length === replicas && readyCount(current) === replicas;
  return { revision, template, steps, requeueAfterMs: converged ? undefined : 2_000 };
}

/**
 * The tenant's app-count quota: apps count in creation order (ties by name), so the apps that
 * existed first keep running and the newest wait. Undefined when `app` is within the quota.
 */
export function appCountVerdict(app: App, tenantApps: readonly App[], tenant: string, limit: number | undefined): PlacementOutcome['unplaced'] {
  if (limit === undefined) return undefined;
  const order = [...tenantApps].sort((a, b) => {
    const [ta, tb] = [a.metadata.creationTimestamp ?? '', b.metadata.creationTimestamp ?? ''];
    return ta < tb ? -1 : ta > tb ? 1 : `${a.metadata.namespace}/${a.metadata.name}` < `${b.metadata.namespace}/${b.metadata.name}` ? -1 : 1;
  });
  const rank = order.findIndex((a) => a.metadata.namespace === app.metadata.namespace && a.metadata.name === app.metadata.name);
  if (rank < limit) return undefined;
  return { reason: 'QuotaExceeded', message: `tenant ${tenant}'s app quota: ${limit} app${limit === 1 ? '' : 's'} allowed, this is app ${rank + 1} of ${order.length}` };
}

/** Condition types of an App, Ready's precedence first. */
export const APP_CONDITIONS = ['Scheduled', 'Available', 'Progressing'] as const;

/** The status after this reconcile: counts, revision and the conditions with actionable messages. */
export function appStatus(app: App, instances: readonly AppInstance[], plan: AppPlan, outcome: PlacementOutcome, env: AppEnv): AppStatus {
  const generation = app.metadata.generation ?? 0;
  const replicas = app.spec?.replicas ?? 1;
  const stoppedNow = new Set(plan.steps.flatMap((s) => (s.op === 'stop' ? [s.id] : [])));
  const live = instances.filter((i) => i.desired === 'running' && !stoppedNow.has(i.id));
  const stateful = isStateful(app);
  const current = live.filter((i) => i.revision === plan.revision && (stateful || !i.nodeDraining) && !i.sealedStale);
  const ready = live.filter((i) => i.ready).length;
  const currentReady = current.filter((i) => i.ready).length;
  const deadlineMs = (app.spec?.rollout?.progressDeadlineSeconds ?? 600) * 1000;
  const now = env.now.getTime();

  const updates: ConditionUpdate[] = [];
  const wanted = replicas - current.length - outcome.placed;
  // Instances their agent will not run: the first one's reason is the App's (the same spec fails alike).
  const refused = live.filter((i) => i.phase === 'failed' && i.reason);
  const looping = crashLooping(live);
  updates.push(
    outcome.unplaced && wanted > 0
      ? { type: 'Scheduled', status: 'False', reason: outcome.unplaced.reason, message: outcome.unplaced.message }
      : { type: 'Scheduled', status: 'True', reason: 'Placed', message: replicas === 0 ? 'scaled to zero' : `${plural(current.length + outcome.placed, 'instance')} placed` },
  );
  updates.push(
    ready >= availableMinimum(app, replicas)
      ? { type: 'Available', status: 'True', reason: 'MinimumReplicasReady', message: replicas === 0 ? 'scaled to zero' : `${ready} of ${replicas} ready` }
      : env.volumeBlocked
        ? { type: 'Available', status: 'False', reason: env.volumeBlocked.reason, message: env.volumeBlocked.message }
        : refused.length > 0
          ? { type: 'Available', status: 'False', reason: refused[0]!.reason!, message: `${ready} of ${replicas} ready; ${plural(refused.length, 'instance')} refused by ${refused.length === 1 ? 'its node' : 'their nodes'}${troubleOf(refused)}` }
          : looping.length > 0
            ? { type: 'Available', status: 'False', reason: 'CrashLoopBackOff', message: `${ready} of ${replicas} ready; ${plural(looping.length, 'instance')} in CrashLoopBackOff: ${describeCrashLoop(looping)}` }
            : { type: 'Available', status: 'False', reason: 'NotEnoughReady', message: `${ready} of ${replicas} ready${troubleOf(live)}` },
  );
  const stuck = current.filter((i) => !i.ready && now - i.createdAt.getTime() > deadlineMs);
  const complete = current.length === replicas && currentReady === replicas && live.length === replicas;
  updates.push(
    complete
      ? { type: 'Progressing', status: 'True', reason: 'RolloutComplete', message: `revision ${plan.revision} runs everywhere` }
      : stuck.length > 0
        ? {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: `revision ${plan.revision}: ${plural(stuck.length, 'instance')} not ready after ${deadlineMs / 1000} s (${stuck.map((i) => `${i.id} on ${i.node}: ${i.phase ?? 'not started'}`).join('; ')}); the previous revision keeps serving`,
          }
        : { type: 'Progressing', status: 'True', reason: 'RollingOut', message: `${currentReady} of ${replicas} instances of revision ${plan.revision} ready${rolloutTrouble(current)}` },
  );
  // Rolled back: what runs is not the spec, until the spec changes (the controller does not write it).
  if (env.rolledBack) {
    const i = updates.findIndex((u) => u.type === 'Progressing');
    updates[i] = { type: 'Progressing', status: 'False', reason: 'RolledBack', message: `revision ${env.rolledBack.failed} failed (${env.rolledBack.why}); running ${plan.revision}` };
  }
  // Informational, not part of Ready: the App runs on, the tenant's next binding waits (app-volumes.ts).
  if (env.volumeOverSize) updates.push({ type: 'VolumesWithinSize', status: 'False', reason: 'SizeExceeded', message: env.volumeOverSize });
  else if ((app.spec?.volumes ?? []).length > 0) updates.push({ type: 'VolumesWithinSize', status: 'True', reason: 'WithinSize', message: '' });
  // Held by its tenant: Scheduled says why; once the instances stop, Available and Progressing too.
  const blocked = env.tenantBlocked;
  const shown = blocked
    ? updates.map((u): ConditionUpdate => (u.type === 'Scheduled' || blocked.stop ? { type: u.type, status: 'False', reason: blocked.reason, message: blocked.message } : u))
    : updates;
  let conditions: Condition[] = app.status?.conditions ?? [];
  for (const update of shown) conditions = setCondition(conditions, update, { now: env.now, generation }).conditions;
  conditions = setCondition(conditions, { type: 'Ready', ...readySummary(conditions, { dependsOn: APP_CONDITIONS }) }, { now: env.now, generation }).conditions;
  return {
    replicas: live.length + outcome.placed,
    readyReplicas: ready,
    updatedReplicas: current.length + outcome.placed,
    revision: plan.revision,
    conditions,
    observedGeneration: generation,
  };
}

/** New instances of a rollout in a crash loop, for the Progressing message. */
function rolloutTrouble(current: readonly AppInstance[]): string {
  const looping = crashLooping(current);
  return looping.length > 0 ? `; ${plural(looping.length, 'instance')} in CrashLoopBackOff: ${describeCrashLoop(looping)}` : '';
}

/** Why the unready instances are unready, for a person: phase, last exit, restarts (first three, by id). */
function troubleOf(instances: readonly AppInstance[]): string {
  const unready = instances.filter((i) => !i.ready).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (unready.length === 0) return '';
  const described = unready.slice(0, 3).map((i) => {
    const exit = i.lastExit ? `, last exit ${exitText(i.lastExit)}` : '';
    const restarts = i.restarts ? `, restarted ${i.restarts} time${i.restarts === 1 ? '' : 's'}` : '';
    const where = i.nodeLostSince ? ` (node ${i.node} lost)` : '';
    const why = i.phase === 'failed' && i.reason ? ` (${i.reason}: ${i.message ?? ''})` : '';
    return `${i.id} on ${i.node}: ${i.phase ?? 'not started yet'}${why}${where}${exit}${restarts}`;
  });
  return `; ${described.join('; ')}${unready.length > 3 ? `; and ${unready.length - 3} more` : ''}`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
