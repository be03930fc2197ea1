/**
 * The contract between the node agent and whatever runs App instances on this host: a process
 * runtime today (process-runtime.ts), a microVM runtime later. Kept small on purpose — the agent
 * says what should run (`ensure`/`remove`) and reads what does (`list`/`onChange`); everything
 * about restarts, health and limits happens behind it.
 */

/** One instance to run. Two specs with the same content have the same `specHash`. */
export interface InstanceSpec {
  /** Unique and stable (e.g. "acme.web-7f3a9c-2"); also used in file names, so only [a-z0-9.-]. */
  readonly id: string;
  /** argv: command[0] is the program (looked up in the runtime's base PATH when not absolute). */
  readonly command: readonly string[];
  /** The instance's whole environment on top of the runtime's base one; the runtime adds PORT and TEND_INSTANCE=id. */
  readonly env: Readonly<Record<string, string>>;
  /** The port the instance must listen on (the agent picks a free one). */
  readonly port: number;
  /** Hard limit: going over it kills the instance (lastExit.reason 'OOMKilled'). */
  readonly memoryBytes: number;
  /** Soft CPU share: cgroup cpu.weight where the runtime has cgroups, otherwise ignored. */
  readonly cpuMillis: number;
  /** HTTP GET http://127.0.0.1:<port><path>; absent: running counts as ready. */
  readonly healthCheck?: {
    readonly path: string;
    readonly periodMs: number;
    readonly timeoutMs: number;
    readonly failureThreshold: number;
  };
  /** @default the runtime's working directory */
  readonly workingDir?: string;
  /**
   * Folders the instance may write besides its working directory and /tmp: its volumes. A
   * sandboxed instance sees them at these paths (chowned to its uid) and nothing else of the
   * agent's state folder. @default []
   */
  readonly volumeDirs?: readonly string[];
  /** Time between SIGTERM and SIGKILL when stopping. @default 10_000 */
  readonly stopGraceMs?: number;
}

/**
 * - starting: being spawned · running: the process exists · backoff: it exited and waits to be
 *   restarted (CrashLoopBackOff) · stopping: SIGTERM sent, waiting for it to exit · stopped: not
 *   running and not going to be restarted by the runtime (removed, or found dead at startup).
 */
export type InstancePhase = 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped';

/** Why the last process of an instance ended. */
export interface InstanceExit {
  /** Exit code; null when killed by a signal or when unknown (an adopted process is not our child). */
  readonly code: number | null;
  readonly signal: string | null;
  /** 'Completed': exit 0 · 'Error': anything else · 'OOMKilled': over its memory limit · 'Killed': SIGKILLed after the stop grace period. */
  readonly reason: 'Completed' | 'Error' | 'OOMKilled' | 'Killed';
  /** RFC 3339. */
  readonly at: string;
  readonly message?: string;
  /**
   * RFC 3339: when the runtime starts the instance again after this exit (its CrashLoopBackOff
   * back-off ends); absent when it is not restarted (stopped, removed). Kept after the restart, so
   * one exit is reported the same until the next.
   */
  readonly restartAt?: string;
}

/** What the runtime knows about one instance right now. */
export interface InstanceStatus {
  readonly id: string;
  readonly phase: InstancePhase;
  /** Running AND its health check passing (no health check: running counts as ready). */
  readonly ready: boolean;
  readonly pid?: number;
  /** How many times the runtime restarted it since its spec last changed. */
  readonly restarts: number;
  /** RFC 3339, when the current process started. */
  readonly startedAt?: string;
  readonly lastExit?: InstanceExit;
  /** RFC 3339, when phase is 'backoff': the next start. */
  readonly backoffUntil?: string;
  /** Hash of the spec it runs, so the agent can tell a changed spec. */
  readonly specHash: string;
}

/** A piece of one instance's output, as the runtime read it: whole lines of one run. */
export interface LogChunk {
  readonly instance: string;
  /** RFC 3339 start of the process that wrote it: each run (a start, or a restart) has its own. */
  readonly run: string;
  /** Whole lines, each ending in "\n"; '' marks the start of a run that has printed nothing yet. */
  readonly text: string;
  readonly lines: number;
  /** Unix ms when the runtime read the lines: their time. */
  readonly at: number;
  /** Where the run's log file stands after these lines: reading resumes here after an agent restart. */
  readonly offset: number;
}

/** How far an instance's output was stored (its newest stored chunk), to resume from. */
export interface LogPosition {
  readonly run: string;
  readonly offset: number;
}

/**
 * What the instances print, for the agent to store elsewhere (PostgreSQL). Until `resume` is
 * called nobody reads: nothing is held in memory and logs rotate by size alone. After it, a log
 * is rotated only once what it holds has been taken and stored (or it is far past its cap).
 */
export interface InstanceLogSource {
  /** Starts reading, from where storage last got to for each instance (none: from the start of its log). */
  resume(positions: ReadonlyMap<string, LogPosition>): void;
  /**
   * Every chunk not yet marked stored, oldest first, reading what was written since the last call
   * (at most `perInstanceBytes` new bytes of one instance per call, `totalBytes` in all).
   */
  take(limits: { readonly perInstanceBytes: number; readonly totalBytes: number }): LogChunk[];
  /** These chunks of an earlier `take` are stored: they are not handed out again. */
  stored(chunks: readonly LogChunk[]): void;
}

/** Runs instances on this host. */
export interface Runtime {
  /** The instances' output, as it is written. */
  readonly logs: InstanceLogSource;
  /** Makes `spec` run: starts it if absent; idempotent; a different spec for the same id replaces it (stop, then start). */
  ensure(spec: InstanceSpec): void;
  /** Stops and forgets `id`: SIGTERM, grace period, SIGKILL. Resolves when the process is gone. */
  remove(id: string): Promise<void>;
  /** Current state of every instance it knows. */
  list(): InstanceStatus[];
  /** Called after any status change (phase, ready, restarts…); returns unsubscribe. */
  onChange(handler: (status: InstanceStatus) => void): () => void;
  /** Stops watching; with `{ stopInstances: true }` also stops every instance (agent shutting down for good). */
  close(options?: { stopInstances?: boolean }): Promise<void>;
}
