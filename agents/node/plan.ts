/**
 * The agent's planner: what PostgreSQL says this node must run × what the runtime runs → actions
 * (start, stop) and reports (observed state to write back). Pure; agents/node/agent.ts acts.
 */
import type { InstanceTemplate, VolumeMount } from '../../api/types/instance.js';
import type { InstanceExit, InstanceSpec, InstanceStatus } from './runtime/runtime.js';

/** What the agent passes to one planning pass. */
export interface PlanAgentOptions {
  /** Working directory of instances. @default the runtime's */
  readonly workingDir?: string;
  /** key (namespace/name) → directory of each volume ready on this node (from syncVolumes). */
  readonly volumes?: ReadonlyMap<string, string>;
  /** Instances the runtime failed to start on an earlier pass (the agent's record): not tried again, reported failed. */
  readonly failures?: ReadonlyMap<string, Refusal>;
  /**
   * New instances started per pass at most; the rest wait for the next pass (`deferred`). A spawn
   * blocks the agent's event loop (fork and exec: about 100 ms each on a loaded 2-core host), so
   * 200 at once froze it for 20 s: its heartbeats stopped, the node was declared lost, and its
   * instances were replaced again and again. @default 10
   */
  readonly maxStarts?: number;
}

/** One row of platform.instances for this node, desired and last-reported columns. */
export interface Assignment {
  readonly id: string;
  readonly memory: number;
  readonly cpu: number;
  readonly desired: 'running' | 'stopped';
  readonly port: number | null;
  readonly spec: InstanceTemplate;
  readonly reported: Observed | null;
}

/** The observed columns the agent writes. */
export interface Observed {
  readonly phase: string;
  readonly ready: boolean;
  readonly restarts: number;
  readonly lastExit: InstanceExit | null;
  /** Phase 'failed': why this node will not run it (the reason and message columns). */
  readonly failure?: Refusal;
}

/** Why the agent does not run an instance; it reaches the App's conditions and `tend why`. */
export interface Refusal {
  readonly reason: RefusalReason;
  readonly message: string;
}

/**
 * RuntimeUnavailable: no runtime here runs what it asks for (an image) · InvalidCommand: no
 * program to start, or an argument the OS cannot pass · InvalidSpec: limits or settings no process
 * can have · RuntimeError: the runtime threw starting it (the agent retries it now and then).
 */
export type RefusalReason = 'RuntimeUnavailable' | 'InvalidCommand' | 'InvalidSpec' | 'RuntimeError' | 'SecretUnavailable';

export type AgentAction =
  | { readonly op: 'ensure'; readonly spec: InstanceSpec }
  | { readonly op: 'remove'; readonly id: string; readonly why: 'desired stopped' | 'no longer assigned' | 'refused' };

export interface AgentPlan {
  /** Instances that need a port before they can start (the agent picks one and records it). */
  readonly needPorts: readonly string[];
  /** Instances not started because these volumes of theirs are not ready on this node yet. */
  readonly waitingForVolumes: readonly { readonly id: string; readonly volumes: readonly string[] }[];
  readonly actions: readonly AgentAction[];
  /** Observed state that differs from what the row says. */
  readonly reports: readonly { readonly id: string; readonly observed: Observed }[];
  /** New instances left for the next pass (beyond `maxStarts`). */
  readonly deferred: number;
}

/** Plans one pass of the agent. */
export function planAgent(assignments: readonly Assignment[], running: readonly InstanceStatus[], options: PlanAgentOptions = {}): AgentPlan {
  const byId = new Map(running.map((s) => [s.id, s]));
  const assigned = new Set(assignments.map((a) => a.id));
  const readyVolumes = options.volumes ?? new Map<string, string>();
  const needPorts: string[] = [];
  const waitingForVolumes: { id: string; volumes: string[] }[] = [];
  const actions: AgentAction[] = [];
  const reports: { id: string; observed: Observed }[] = [];
  let starts = options.maxStarts ?? 10;
  let deferred = 0;

  for (const a of assignments) {
    const status = byId.get(a.id);
    try {
      const refusal = a.desired === 'running' ? (options.failures?.get(a.id) ?? refusalOf(a)) : undefined;
      if (refusal) {
        // Never started; one already running (a refusal found after it started) is stopped.
        if (status && status.phase !== 'stopped') actions.push({ op: 'remove', id: a.id, why: 'refused' });
        const observed = failedObserved(a, refusal);
        if (!sameObserved(a.reported, observed)) reports.push({ id: a.id, observed });
        continue;
      }
      const missing = (a.spec.volumes ?? []).map((m) => m.volume).filter((v) => !readyVolumes.has(v));
      if (a.desired === 'stopped') {
        if (status && status.phase !== 'stopped') actions.push({ op: 'remove', id: a.id, why: 'desired stopped' });
      } else if (a.port === null) {
        needPorts.push(a.id);
      } else if (missing.length > 0) {
        // Not started (nor restarted with a new spec) without its data; one already running is
        // left alone: stopping it is the App controller's decision.
        waitingForVolumes.push({ id: a.id, volumes: [...new Set(missing)] });
      } else if (status) {
        actions.push({ op: 'ensure', spec: instanceSpec(a, a.port, options.workingDir, readyVolumes) });
      } else if (starts > 0) {
        starts--;
        actions.push({ op: 'ensure', spec: instanceSpec(a, a.port, options.workingDir, readyVolumes) });
      } else {
        deferred++;
      }
      const observed: Observed = status
        ? { phase: status.phase, ready: status.ready, restarts: status.restarts, lastExit: status.lastExit ?? null }
        : { phase: a.desired === 'stopped' ? 'stopped' : 'starting', ready: false, restarts: a.reported?.restarts ?? 0, lastExit: a.reported?.lastExit ?? null };
      if (!sameObserved(a.reported, observed)) reports.push({ id: a.id, observed });
    } catch (err) {
      // A row refusalOf let through but that still breaks planning: that instance fails, the rest carry on.
      const observed = failedObserved(a, { reason: 'InvalidSpec', message: `cannot plan instance ${a.id}: ${(err as Error).message}` });
      if (!sameObserved(a.reported, observed)) reports.push({ id: a.id, observed });
    }
  }
  for (const status of running) {
    if (!assigned.has(status.id)) actions.push({ op: 'remove', id: status.id, why: 'no longer assigned' });
  }
  return { needPorts, waitingForVolumes, actions, reports, deferred };
}

/**
 * Why this node cannot run `a` as given, or undefined when it can. Checked before anything starts,
 * so one bad row is reported failed instead of throwing in the agent's pass. The row comes from
 * jsonb: every shape is checked, not assumed.
 */
export function refusalOf(a: Assignment): Refusal | undefined {
  const spec = a.spec as Partial<Record<keyof InstanceTemplate, unknown>> | null;
  if (spec === null || typeof spec !== 'object') return { reason: 'InvalidSpec', message: 'the instance has no spec' };
  if (spec.image !== undefined) {
    return { reason: 'RuntimeUnavailable', message: `image ${JSON.stringify(String(spec.image).slice(0, 200))}: this node runs processes only; no runtime here runs images yet (set command instead)` };
  }
  const command = spec.command;
  if (!Array.isArray(command) || command.length === 0) return { reason: 'InvalidCommand', message: 'command is empty: nothing to start' };
  if (typeof command[0] !== 'string' || command[0] === '') return { reason: 'InvalidCommand', message: 'command[0] is empty: it must name a program' };
  const bad = command.findIndex((c) => typeof c !== 'string' || c.includes('\0'));
  if (bad >= 0) return { reason: 'InvalidCommand', message: `command[${bad}] ${typeof command[bad] === 'string' ? 'contains a NUL character' : 'is not a string'}: the OS cannot pass it` };
  if (!(Number.isFinite(a.memory) && a.memory >= 1)) return { reason: 'InvalidSpec', message: `memory limit ${a.memory} bytes: no process fits in it (at least 1 byte)` };
  if (!(Number.isFinite(a.cpu) && a.cpu >= 0)) return { reason: 'InvalidSpec', message: `cpu ${a.cpu} millicores must not be negative` };
  if (spec.env !== undefined) {
    if (spec.env === null || typeof spec.env !== 'object' || Array.isArray(spec.env)) return { reason: 'InvalidSpec', message: 'env is not a map of names to values' };
    for (const [name, value] of Object.entries(spec.env)) {
      if (typeof value !== 'string' || name === '' || name.includes('=') || name.includes('\0') || value.includes('\0')) {
        return { reason: 'InvalidSpec', message: `env ${JSON.stringify(name.slice(0, 100))}: names must be non-empty without = or NUL, values strings without NUL` };
      }
    }
  }
  const hc = spec.healthCheck as InstanceTemplate['healthCheck'] | undefined;
  if (hc !== undefined) {
    if (hc === null || typeof hc.path !== 'string' || !hc.path.startsWith('/')) return { reason: 'InvalidSpec', message: 'healthCheck.path must start with /' };
    for (const field of ['periodSeconds', 'timeoutSeconds', 'failureThreshold'] as const) {
      const v = hc[field];
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) return { reason: 'InvalidSpec', message: `healthCheck.${field} ${String(v)} must be positive` };
    }
  }
  const mounts = spec.volumes;
  if (mounts !== undefined && (!Array.isArray(mounts) || mounts.some((m) => !m || typeof m.volume !== 'string' || typeof m.mountPath !== 'string'))) {
    return { reason: 'InvalidSpec', message: 'volumes must each name a volume and a mountPath' };
  }
  return undefined;
}

function failedObserved(a: Assignment, failure: Refusal): Observed {
  return { phase: 'failed', ready: false, restarts: a.reported?.restarts ?? 0, lastExit: a.reported?.lastExit ?? null, failure };
}

/** The runtime's spec of an assignment; `volumes` maps each of its volumes to its directory. */
export function instanceSpec(a: Assignment, port: number, workingDir?: string, volumes: ReadonlyMap<string, string> = new Map()): InstanceSpec {
  const hc = a.spec.healthCheck;
  const mounts = a.spec.volumes ?? [];
  return {
    id: a.id,
    command: a.spec.command,
    env: mounts.length > 0 ? volumeEnv(a.spec.env ?? {}, mounts, volumes) : (a.spec.env ?? {}),
    port,
    memoryBytes: a.memory,
    cpuMillis: a.cpu,
    ...(hc
      ? {
          healthCheck: {
            path: hc.path,
            periodMs: (hc.periodSeconds ?? 10) * 1000,
            timeoutMs: (hc.timeoutSeconds ?? 1) * 1000,
            failureThreshold: hc.failureThreshold ?? 3,
          },
        }
      : {}),
    ...(workingDir ? { workingDir } : {}),
    ...(mounts.length > 0 ? { volumeDirs: [...new Set(mounts.map((m) => volumes.get(m.volume)).filter((d) => d !== undefined))] } : {}),
  };
}

/**
 * An instance's environment with its volumes: a process runtime cannot mount, so the instance
 * learns each directory from `TEND_VOLUME_<NAME>` (the volume's name upper-cased, anything but
 * A–Z and 0–9 as `_`), and every value that is a mountPath, or starts with mountPath + '/', is
 * rewritten to the directory (+ the rest): `DATA_DIR=/data` with mountPath /data becomes the real
 * directory. The longest matching mountPath wins (/data/logs before /data). A microVM runtime
 * will mount instead. Mounts whose volume has no directory in `volumes` are left out.
 */
export function volumeEnv(env: Readonly<Record<string, string>>, mounts: readonly VolumeMount[], volumes: ReadonlyMap<string, string>): Record<string, string> {
  const targets = mounts
    .map((m) => ({ path: m.mountPath.replace(/\/+$/, ''), dir: volumes.get(m.volume) }))
    .filter((t): t is { path: string; dir: string } => t.dir !== undefined && t.path.startsWith('/'))
    .sort((x, y) => y.path.length - x.path.length);
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const target = targets.find((t) => value === t.path || value.startsWith(`${t.path}/`));
    result[name] = target ? target.dir + value.slice(target.path.length) : value;
  }
  for (const m of mounts) {
    const dir = volumes.get(m.volume);
    if (dir !== undefined) result[volumeEnvName(m.volume)] = dir;
  }
  return result;
}

/** `TEND_VOLUME_<NAME>` of a volume key: "acme/pg-data" → TEND_VOLUME_PG_DATA. */
export function volumeEnvName(volumeKey: string): string {
  return `TEND_VOLUME_${volumeKey.slice(volumeKey.lastIndexOf('/') + 1).toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** By value: jsonb gives keys back in its own order, so a text compare saw every report as changed. */
function sameObserved(a: Observed | null, b: Observed): boolean {
  return (
    a !== null &&
    a.phase === b.phase &&
    a.ready === b.ready &&
    a.restarts === b.restarts &&
    sameExit(a.lastExit, b.lastExit) &&
    a.failure?.reason === b.failure?.reason &&
    a.failure?.message === b.failure?.message
  );
}

function sameExit(a: InstanceExit | null | undefined, b: InstanceExit | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  return (a.code ?? null) === (b.code ?? null) && (a.signal ?? null) === (b.signal ?? null) && a.reason === b.reason && a.at === b.at && a.message === b.message && a.restartAt === b.restartAt;
}
