import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../../framework/time/clock.js';
import type { CrashBackoffOptions } from './crash-backoff.js';
import { InstanceSupervisor, type SupervisorContext } from './instance-supervisor.js';
import { checkInstanceSpec } from './instance-spec.js';
import { createMemoryGuard, type MemoryEnforcement, type MemoryGuard } from './memory-guard.js';
import { isSameLiveProcess } from './procfs.js';
import type { InstanceSpec, InstanceStatus, Runtime } from './runtime.js';
import { StateDir } from './state-dir.js';

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
  private readonly instances = new Map<string, InstanceSupervisor>();
  private readonly handlers = new Set<(status: InstanceStatus) => void>();
  private readonly memory: MemoryGuard;
  private readonly ctx: SupervisorContext;
  private readonly log: Logger;
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
    this.ctx = {
      stateDir: new StateDir(options.stateDir),
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
    this.memory.close();
    this.handlers.clear();
  }

  private adoptRecorded(): void {
    const { records, unreadable } = this.ctx.stateDir.readAll();
    for (const { file, error } of unreadable) this.log.warn({ file, error }, 'ignoring an unreadable instance record');
    for (const record of records) {
      try {
        checkInstanceSpec(record.spec);
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
