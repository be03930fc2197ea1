/**
 * @module
 * The node agent's runtime: what actually runs App instances on a worker host. `Runtime`
 * (runtime.ts) is the whole contract — `ensure`, `remove`, `list`, `onChange`, `close` — so a
 * microVM runtime can replace `ProcessRuntime` without the agent loop changing.
 *
 * Design notes
 * - Level-triggered like a reconciler: `ensure(spec)` states what should run, as often as the
 *   agent likes; the same spec is a no-op, a changed spec (a different `specHash`) is a stop then
 *   a start. Each id has one supervisor (instance-supervisor.ts) that converges after every event.
 * - Crashes restart on their own with kubelet's CrashLoopBackOff (crash-backoff.ts: 10 s
 *   doubling to 5 min, reset after 10 min up). Any exit restarts, exit 0 too: instances are services.
 * - Health is reported, never acted on: an instance failing its check stays running with
 *   `ready: false`; the control plane decides whether to replace it (health-checker.ts).
 * - Memory limits are enforced by a cgroup v2 `memory.max` when this process may create child
 *   cgroups, else by polling each process tree's RSS (memory-guard.ts); `memoryEnforcement`
 *   says which. cpuMillis becomes cgroup cpu.weight, or is ignored without cgroups.
 * - An agent restart never duplicates a process: every start is recorded in `stateDir`
 *   (state-dir.ts) with the pid and its start time from /proc, and a new runtime adopts each
 *   recorded process that still lives. Adopted processes are not our children, so their exit is
 *   seen by polling /proc and its status is unknown (`code: null`); recorded processes that are
 *   gone are listed as `stopped` with a `lastExit` so the agent starts them again.
 * - Instances get `baseEnv` + their spec's env + PORT and TEND_INSTANCE, never the agent's own
 *   environment. Their output is appended to `<stateDir>/<id>.log`, copied to `<id>.log.1` and
 *   truncated past `logMaxBytes` (10 MiB) without losing a line, and deleted with the instance;
 *   `logs` hands it out run by run for the agent to ship (instance-logs.ts).
 * - With `sandbox: 'auto'` (what `tend agent` and `tend up` use) each instance runs in its own
 *   mount, PID, IPC, UTS and cgroup namespaces as its own uid from `instanceUids`, sees the host
 *   read-only and nothing of `stateDir` but its volumes (sandbox.ts); where that is not possible
 *   (not root, no util-linux) `isolation` says why and instances run as plain child processes.
 *
 * ```ts
 * const runtime = new ProcessRuntime({ stateDir: '/var/lib/tend/instances', logger });
 * runtime.onChange((status) => void writeObservedInstance(status));   // the agent's report to PostgreSQL
 * runtime.ensure({
 *   id: 'acme.web-7f3a9c-2', command: ['node', 'server.js'], env: { NODE_ENV: 'production' },
 *   port: 20_001, memoryBytes: 256 * 2 ** 20, cpuMillis: 250, workingDir: '/srv/acme/web',
 *   healthCheck: { path: '/healthz', periodMs: 5_000, timeoutMs: 1_000, failureThreshold: 3 },
 * });
 * runtime.list();   // [{ id: 'acme.web-7f3a9c-2', phase: 'running', ready: true, pid: 4242, restarts: 0, … }]
 * await runtime.remove('acme.web-7f3a9c-2');   // SIGTERM, 10 s grace, SIGKILL
 * await runtime.close();   // agent restart: instances keep running and the next runtime adopts them
 * ```
 */
export type { InstanceExit, InstanceLogSource, InstancePhase, InstanceSpec, InstanceStatus, LogChunk, LogPosition, Runtime } from './runtime.js';
export { ProcessRuntime, type Isolation, type ProcessRuntimeOptions } from './process-runtime.js';
export { DEFAULT_INSTANCE_UIDS, parseUidRange, type UidRange } from './uid-range.js';
export type { CrashBackoffOptions } from './crash-backoff.js';
export type { MemoryEnforcement } from './memory-guard.js';
export { InvalidInstanceSpecError, specHash } from './instance-spec.js';
