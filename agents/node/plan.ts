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
  readonly actions: readonly AgentAction[];
  /** Observed state that differs from what the row says. */
  readonly reports: readonly { readonly id: string; readonly observed: Observed }[];
}

/** Plans one pass of the agent. */
export function planAgent(assignments: readonly Assignment[], running: readonly InstanceStatus[], options: { readonly workingDir?: string } = {}): AgentPlan {
  const byId = new Map(running.map((s) => [s.id, s]));
  const assigned = new Set(assignments.map((a) => a.id));
  const needPorts: string[] = [];
  const actions: AgentAction[] = [];
  const reports: { id: string; observed: Observed }[] = [];

  for (const a of assignments) {
    const status = byId.get(a.id);
    if (a.desired === 'stopped') {
      if (status && status.phase !== 'stopped') actions.push({ op: 'remove', id: a.id, why: 'desired stopped' });
    } else if (a.port === null) {
      needPorts.push(a.id);
    } else {
      actions.push({ op: 'ensure', spec: instanceSpec(a, a.port, options.workingDir) });
    }
    const observed: Observed = status
      ? { phase: status.phase, ready: status.ready, restarts: status.restarts, lastExit: status.lastExit ?? null }
      : { phase: a.desired === 'stopped' ? 'stopped' : 'starting', ready: false, restarts: a.reported?.restarts ?? 0, lastExit: a.reported?.lastExit ?? null };
    if (!sameObserved(a.reported, observed)) reports.push({ id: a.id, observed });
  }
  for (const status of running) {
    if (!assigned.has(status.id)) actions.push({ op: 'remove', id: status.id, why: 'no longer assigned' });
  }
  return { needPorts, actions, reports };
}

/** The runtime's spec of an assignment. */
export function instanceSpec(a: Assignment, port: number, workingDir?: string): InstanceSpec {
  const hc = a.spec.healthCheck;
  return {
    id: a.id,
    command: a.spec.command,
    env: a.spec.env ?? {},
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
  };
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
