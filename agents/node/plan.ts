/**
 * The agent's planner: what PostgreSQL says this node must run × what the runtime runs → actions
 * (start, stop) and reports (observed state to write back). Pure; agents/node/agent.ts acts.
 */
import type { InstanceExit, InstanceSpec, InstanceStatus } from './runtime/runtime.js';

/** How the App controller describes an instance's process (platform.instances.spec). */
export interface InstanceTemplate {
  readonly command: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly healthCheck?: { readonly path: string; readonly periodSeconds?: number; readonly timeoutSeconds?: number; readonly failureThreshold?: number };
  /** Volumes the instance mounts; it starts only once each is ready on this node (see `volumeEnv`). */
  readonly volumes?: readonly VolumeMount[];
}

/** One volume of an instance: the Volume's key and where the instance expects it. */
export interface VolumeMount {
  /** namespace/name */
  readonly volume: string;
  /** An absolute path such as /data. */
  readonly mountPath: string;
}

/** What the agent passes to one planning pass. */
export interface PlanAgentOptions {
  /** Working directory of instances. @default the runtime's */
  readonly workingDir?: string;
  /** key (namespace/name) → directory of each volume ready on this node (from syncVolumes). */
  readonly volumes?: ReadonlyMap<string, string>;
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
}

export type AgentAction =
  | { readonly op: 'ensure'; readonly spec: InstanceSpec }
  | { readonly op: 'remove'; readonly id: string; readonly why: 'desired stopped' | 'no longer assigned' };

export interface AgentPlan {
  /** Instances that need a port before they can start (the agent picks one and records it). */
  readonly needPorts: readonly string[];
  /** Instances not started because these volumes of theirs are not ready on this node yet. */
  readonly waitingForVolumes: readonly { readonly id: string; readonly volumes: readonly string[] }[];
  readonly actions: readonly AgentAction[];
  /** Observed state that differs from what the row says. */
  readonly reports: readonly { readonly id: string; readonly observed: Observed }[];
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

  for (const a of assignments) {
    const status = byId.get(a.id);
    const missing = (a.spec.volumes ?? []).map((m) => m.volume).filter((v) => !readyVolumes.has(v));
    if (a.desired === 'stopped') {
      if (status && status.phase !== 'stopped') actions.push({ op: 'remove', id: a.id, why: 'desired stopped' });
    } else if (a.port === null) {
      needPorts.push(a.id);
    } else if (missing.length > 0) {
      // Not started (nor restarted with a new spec) without its data; one already running is
      // left alone: stopping it is the App controller's decision.
      waitingForVolumes.push({ id: a.id, volumes: [...new Set(missing)] });
    } else {
      actions.push({ op: 'ensure', spec: instanceSpec(a, a.port, options.workingDir, readyVolumes) });
    }
    const observed: Observed = status
      ? { phase: status.phase, ready: status.ready, restarts: status.restarts, lastExit: status.lastExit ?? null }
      : { phase: a.desired === 'stopped' ? 'stopped' : 'starting', ready: false, restarts: a.reported?.restarts ?? 0, lastExit: a.reported?.lastExit ?? null };
    if (!sameObserved(a.reported, observed)) reports.push({ id: a.id, observed });
  }
  for (const status of running) {
    if (!assigned.has(status.id)) actions.push({ op: 'remove', id: status.id, why: 'no longer assigned' });
  }
  return { needPorts, waitingForVolumes, actions, reports };
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

function sameObserved(a: Observed | null, b: Observed): boolean {
  return (
    a !== null &&
    a.phase === b.phase &&
    a.ready === b.ready &&
    a.restarts === b.restarts &&
    JSON.stringify(a.lastExit ?? null) === JSON.stringify(b.lastExit ?? null)
  );
}
