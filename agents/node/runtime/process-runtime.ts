import { join } from 'node:path';
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../../framework/index.js';
import type { CrashBackoffOptions } from './crash-backoff.js';
import { InstanceSupervisor, type SupervisorContext } from './instance-supervisor.js';
import { InstanceLogs } from './instance-logs.js';
import { checkInstanceSpec } from './instance-spec.js';
import { createMemoryGuard, type MemoryEnforcement, type MemoryGuard } from './memory-guard.js';
import { isSameLiveProcess } from './procfs.js';
import type { InstanceSpec, InstanceStatus, Runtime } from './runtime.js';
import { Sandbox, detectSandbox } from './sandbox.js';
import { StateDir } from './state-dir.js';
import { liveUids } from './live-uids.js';
import { DEFAULT_INSTANCE_UIDS, UidAllocator, type UidRange } from './uid-range.js';

/** How far instances are isolated from the host, the agent and each other on this node. */
export interface Isolation {
  /** True: each instance in its own namespaces as its own uid (sandbox.ts). False: as the agent's own processes. */
  readonly sandboxed: boolean;
  /** Why, in a sentence (the Node's Isolated condition carries it). */
  readonly reason: string;
}

export interface ProcessRuntimeOptions {
  /** Instance records (for adoption after an agent restart) and `<id>.log` files. */
  readonly stateDir: string;
  /** Where errors from timers and processes go; nothing is thrown from a timer. */
  readonly logger: Logger;
  /** @default systemClock */
  readonly clock?: Clock;
  /** CrashLoopBackOff. @default { baseMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 } */
  readonly crashBackoff?: CrashBackoffOptions;
  /** 'auto' uses cgroup v2 when this process may create child cgroups with memory.max, else RSS polling. @default 'auto' */
  readonly memoryEnforcement?: 'auto' | MemoryEnforcement;
  /** The cgroup v2 directory instances' cgroups go in. @default this process's own cgroup */
  readonly cgroupParent?: string;
  /** How often RSS is polled and adopted processes are checked for exit. @default 250 */
  readonly pollIntervalMs?: number;
  /** Working directory of instances without their own. @default process.cwd() */
  readonly workingDir?: string;
  /**
   * Environment every instance starts from; the spec's env goes on top. Instances do not inherit
   * the agent's environment — it holds the agent's own credentials.
   * @default { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }
   */
  readonly baseEnv?: Readonly<Record<string, string>>;
  /**
   * 'auto' sandboxes instances when this host allows it (root, util-linux unshare and setpriv) and
   * runs them as plain child processes otherwise; 'required' refuses to start without a sandbox;
   * 'off' never sandboxes. `isolation` says what was chosen. @default 'off'
   */
  readonly sandbox?: 'auto' | 'required' | 'off';
  /** uids (and gids) of sandboxed instances, one each. @default 900000-999999 */
  readonly instanceUids?: UidRange;
  /** Processes and threads a sandboxed instance may have at once (RLIMIT_NPROC of its uid). @default 1024 */
  readonly instanceMaxProcesses?: number;
  /** Paths sandboxed instances must not see, besides `stateDir` (the agent's data folder, backups…). @default [] */
  readonly hiddenPaths?: readonly string[];
  /** Instance logs are rotated (copied to `<id>.log.1`, the one older file kept, and truncated) past this size. @default 10 MiB */
  readonly logMaxBytes?: number;
  /** How often log sizes are checked. @default 10_000 */
  readonly logCheckMs?: number;
}

/**
 * Runs instances as child processes of this host: each one the leader of its own process group,
 * its output appended to `<stateDir>/<id>.log`, restarted with CrashLoopBackOff when it exits,
 * health-checked over HTTP, held to its memory limit (`memoryEnforcement` says how), and recorded
 * in `stateDir` so that a new runtime after an agent restart adopts what still runs instead of
 * starting it a second time.
 */
export class ProcessRuntime implements Runtime {
  /** How memory limits are enforced on this host. */
  readonly memoryEnforcement: MemoryEnforcement;
  /** Why that mechanism was chosen. */
  readonly memoryEnforcementReason: string;
  /** Whether instances are sandboxed here, and why (not). */
  readonly isolation: Isolation;
  /** What the instances print (instance-logs.ts). */
  readonly logs: InstanceLogs;
  private readonly instances = new Map<string, InstanceSupervisor>();
  private readonly handlers = new Set<(status: InstanceStatus) => void>();
  private readonly memory: MemoryGuard;
  private readonly ctx: SupervisorContext;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly logCheckMs: number;
  private cancelLogCheck: (() => void) | undefined;
  private closed = false;

  /** Detects the memory mechanism and adopts (or reports as gone) every instance recorded in `stateDir`. */
  constructor(options: ProcessRuntimeOptions) {
    this.log = options.logger;
    const clock = options.clock ?? systemClock;
    const pollIntervalMs = options.pollIntervalMs ?? 250;
    const { guard, reason } = createMemoryGuard({
      mode: options.memoryEnforcement ?? 'auto',
      clock,
      pollIntervalMs,
      logger: options.logger,
      ...(options.cgroupParent === undefined ? {} : { cgroupParent: options.cgroupParent }),
    });
    this.memory = guard;
    this.memoryEnforcement = guard.mechanism;
    this.memoryEnforcementReason = reason;
    this.log.info(
      { memoryEnforcement: guard.mechanism, reason },
      guard.mechanism === 'cgroup' ? 'process runtime: memory limits by cgroup' : 'process runtime: memory limits by RSS polling; cpuMillis is not enforced without cgroups',
    );
    const stateDir = new StateDir(options.stateDir);
    const mode = options.sandbox ?? 'off';
    let sandbox: SupervisorContext['sandbox'];
    if (mode === 'off') {
      this.isolation = { sandboxed: false, reason: 'sandboxing is turned off: instances run as the agent\'s uid and see what it sees' };
    } else {
      const detected = detectSandbox();
      if (detected.available) {
        sandbox = {
          sandbox: new Sandbox({ uids: options.instanceUids ?? DEFAULT_INSTANCE_UIDS, hiddenPaths: [stateDir.path, ...(options.hiddenPaths ?? [])], rootDir: join(stateDir.path, 'sandbox-root'), ...(options.instanceMaxProcesses !== undefined ? { maxProcesses: options.instanceMaxProcesses } : {}) }),
          uids: new UidAllocator(options.instanceUids ?? DEFAULT_INSTANCE_UIDS, liveUids),
        };
        this.isolation = { sandboxed: true, reason: detected.reason };
      } else {
        if (mode === 'required') throw new Error(`a sandbox is required but not possible here: ${detected.reason}`);
        this.isolation = { sandboxed: false, reason: `${detected.reason}; instances run as the agent's uid and see what it sees` };
      }
    }
    this.log.info(this.isolation, this.isolation.sandboxed ? 'process runtime: instances are sandboxed' : 'process runtime: instances are NOT sandboxed');
    this.clock = clock;
    this.logCheckMs = options.logCheckMs ?? 10_000;
    this.logs = new InstanceLogs({ stateDir, maxBytes: options.logMaxBytes ?? 10 * 2 ** 20, logger: options.logger });
    this.ctx = {
      stateDir,
      logs: this.logs,
      sandbox,
      memory: guard,
      clock,
      logger: options.logger,
      crashBackoff: options.crashBackoff ?? {},
      pollIntervalMs,
      workingDir: options.workingDir ?? process.cwd(),
      baseEnv: options.baseEnv ?? { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      publish: (status) => this.publish(status),
      forget: (supervisor) => {
        if (this.instances.get(supervisor.id) === supervisor) this.instances.delete(supervisor.id);
      },
    };
    this.adoptRecorded();
    this.scheduleLogCheck();
  }

  /** Starts, keeps or replaces `spec`; throws InvalidInstanceSpecError for a spec it cannot run. */
  ensure(spec: InstanceSpec): void {
    if (this.closed) throw new Error(`ProcessRuntime is closed: cannot ensure ${spec.id}`);
    checkInstanceSpec(spec);
    let supervisor = this.instances.get(spec.id);
    if (!supervisor) {
      supervisor = new InstanceSupervisor(spec, this.ctx);
      this.instances.set(spec.id, supervisor);
    }
    supervisor.ensure(spec);
  }

  /** Stops and forgets `id` (SIGTERM, grace, SIGKILL); resolves at once for an id it does not know. */
  remove(id: string): Promise<void> {
    return this.instances.get(id)?.remove() ?? Promise.resolve();
  }

  /** Every known instance's status, by id. */
  list(): InstanceStatus[] {
    return [...this.instances.values()].map((s) => s.status()).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Calls `handler` with each status that changed; a throwing handler is logged, not propagated. */
  onChange(handler: (status: InstanceStatus) => void): () => void {
    this.handlers.add(handler);
    return () => {
      this.handlers.delete(handler);
    };
  }

  /** Without `stopInstances` the processes keep running and the next runtime on this stateDir adopts them. */
  async close(options: { stopInstances?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (options.stopInstances) {
      await Promise.all([...this.instances.values()].map((s) => s.remove()));
    } else {
      for (const supervisor of this.instances.values()) supervisor.detach();
      this.instances.clear();
    }
    this.cancelLogCheck?.();
    this.memory.close();
    this.handlers.clear();
  }

  /** Every `logCheckMs`: rotate each instance's log past `logMaxBytes` (instance-logs.ts). */
  private scheduleLogCheck(): void {
    this.cancelLogCheck = this.clock.setTimer(() => {
      for (const [id, supervisor] of this.instances) {
        try {
          if (this.logs.rotate(id, supervisor.pid)) this.log.info({ instance: id }, 'instance log rotated');
        } catch (err) {
          this.log.warn({ err, instance: id }, 'could not rotate an instance log');
        }
      }
      if (!this.closed) this.scheduleLogCheck();
    }, this.logCheckMs);
  }

  private adoptRecorded(): void {
    const { records, unreadable } = this.ctx.stateDir.readAll();
    for (const { file, error } of unreadable) this.log.warn({ file, error }, 'ignoring an unreadable instance record');
    for (const record of records) {
      try {
        checkInstanceSpec(record.spec);
        if (record.uid !== undefined && this.ctx.sandbox && !this.ctx.sandbox.uids.reserve(record.uid)) {
          this.log.warn({ instance: record.id, uid: record.uid }, 'a recorded instance uid is outside --instance-uids or taken twice; kept for this instance');
        }
        const supervisor = new InstanceSupervisor(record.spec, this.ctx);
        this.instances.set(record.id, supervisor);
        if (isSameLiveProcess(record.pid, record.startTime)) supervisor.adopt(record);
        else supervisor.foundGone(record);
      } catch (err) {
        this.log.warn({ err, instance: record.id }, 'ignoring an instance record that cannot be adopted');
      }
    }
  }

  private publish(status: InstanceStatus): void {
    for (const handler of this.handlers) {
      try {
        handler(status);
      } catch (err) {
        this.log.error({ err, instance: status.id }, 'an onChange handler threw');
      }
    }
  }
}
