import type { Logger } from 'pino';
import type { Clock } from '../../../framework/index.js';
import { CrashBackoff, type CrashBackoffOptions } from './crash-backoff.js';
import { HealthChecker } from './health-checker.js';
import type { InstanceLogs } from './instance-logs.js';
import { adoptInstance, spawnInstance, type InstanceProcess, type ProcessExit } from './instance-process.js';
import { specHash } from './instance-spec.js';
import type { MemoryGuard, MemoryWatch } from './memory-guard.js';
import type { InstanceExit, InstancePhase, InstanceSpec, InstanceStatus } from './runtime.js';
import type { Sandbox } from './sandbox.js';
import type { InstanceRecord, StateDir } from './state-dir.js';
import type { UidAllocator } from './uid-range.js';

/** What every supervisor of one runtime shares. */
export interface SupervisorContext {
  readonly stateDir: StateDir;
  /** Told where each run's output begins in the log. */
  readonly logs: InstanceLogs;
  readonly memory: MemoryGuard;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly crashBackoff: CrashBackoffOptions;
  readonly pollIntervalMs: number;
  readonly workingDir: string;
  readonly baseEnv: Readonly<Record<string, string>>;
  /** Present when instances are sandboxed: how, and the uids they run as. */
  readonly sandbox: { readonly sandbox: Sandbox; readonly uids: UidAllocator } | undefined;
  /** Receives every status that differs from the previous one. */
  readonly publish: (status: InstanceStatus) => void;
  /** The instance was removed and its process is gone: the runtime forgets it. */
  readonly forget: (supervisor: InstanceSupervisor) => void;
}

const DEFAULT_STOP_GRACE_MS = 10_000;

/**
 * The life of one instance id: start, watch, restart with backoff, replace, stop. The agent sets
 * what it wants (`ensure`, `remove`) and `converge` moves toward it whenever the instance is not
 * in the middle of starting or stopping; the end of either calls `converge` again. Nothing here
 * throws out of a timer or a promise callback: failures become a status and a log line.
 */
export class InstanceSupervisor {
  readonly id: string;
  private spec: InstanceSpec;
  private hash: string;
  /** What the agent wants: a spec, null (remove), or undefined (found at startup, not asked yet: keep as is). */
  private desired: InstanceSpec | null | undefined;
  private phase: InstancePhase = 'stopped';
  private ready = false;
  private restarts = 0;
  private startedAtMs: number | undefined;
  /** The log's size when the current process started (its record keeps it). */
  private logOffset: number | undefined;
  private lastExit: InstanceExit | undefined;
  private backoffUntilMs: number | undefined;
  private process: InstanceProcess | undefined;
  /** The sandboxed instance's uid: taken at its first start (or from its record), kept until it is removed. */
  private uid: number | undefined;
  private health: HealthChecker | undefined;
  /** Set when the instance is killed for failing its health check: the message of its exit. */
  private unhealthy: string | undefined;
  private memoryWatch: MemoryWatch | undefined;
  /** The backoff timer or the stop grace timer; never both, as one needs a process and the other none. */
  private cancelTimer: (() => void) | undefined;
  private stopRequested = false;
  private killedAfterGrace = false;
  private detached = false;
  private lastPublished = '';
  private readonly crashBackoff: CrashBackoff;
  private readonly waitingForRemoval: (() => void)[] = [];
  private readonly log: Logger;

  constructor(spec: InstanceSpec, private readonly ctx: SupervisorContext) {
    this.id = spec.id;
    this.spec = spec;
    this.hash = specHash(spec);
    this.crashBackoff = new CrashBackoff(ctx.crashBackoff);
    this.log = ctx.logger.child({ instance: spec.id });
  }

  /** Takes over the recorded, still-running process of a previous runtime. */
  adopt(record: InstanceRecord): void {
    this.restarts = record.restarts;
    this.uid = record.uid;
    this.logOffset = record.logOffset;
    this.ctx.logs.adopted(this.id, record.startedAt, record.logOffset);
    const process = adoptInstance({ pid: record.pid, startTime: record.startTime, clock: this.ctx.clock, pollIntervalMs: this.ctx.pollIntervalMs });
    this.attach(process, Date.parse(record.startedAt), false, record.ready === true);
  }

  /** Reports a recorded instance whose process died while no runtime watched it, so the agent can start it again. */
  foundGone(record: InstanceRecord): void {
    this.restarts = record.restarts;
    this.uid = record.uid;
    this.ctx.logs.adopted(this.id, record.startedAt, record.logOffset);
    this.lastExit = {
      code: null,
      signal: null,
      reason: 'Error',
      at: this.iso(this.ctx.clock.now()),
      message: `process ${record.pid} had exited when the runtime started; its exit status is unknown`,
    };
    this.publish();
  }

  /** Wants `spec` to run; a different spec than the current one replaces it. */
  ensure(spec: InstanceSpec): void {
    this.desired = spec;
    this.converge();
  }

  /** Wants the instance gone; resolves once its process has exited and it is forgotten. */
  remove(): Promise<void> {
    this.desired = null;
    const gone = new Promise<void>((resolve) => this.waitingForRemoval.push(resolve));
    this.converge();
    return gone;
  }

  /** Stops watching and leaves the process running for a later runtime to adopt. */
  detach(): void {
    this.detached = true;
    this.cancelTimer?.();
    this.health?.stop();
    this.memoryWatch?.stop();
    this.process?.detach();
    this.resolveRemovals();
  }

  /** The pid of the running process, if there is one. */
  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** The status as the Runtime interface reports it. */
  status(): InstanceStatus {
    return {
      id: this.id,
      phase: this.phase,
      ready: this.ready,
      ...(this.process ? { pid: this.process.pid } : {}),
      restarts: this.restarts,
      ...(this.process && this.startedAtMs !== undefined ? { startedAt: this.iso(this.startedAtMs) } : {}),
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
      ...(this.phase === 'backoff' && this.backoffUntilMs !== undefined ? { backoffUntil: this.iso(this.backoffUntilMs) } : {}),
      specHash: this.hash,
    };
  }

  private converge(): void {
    if (this.detached) return;
    const want = this.desired;
    const changed = want != null && specHash(want) !== this.hash;
    switch (this.phase) {
      case 'starting':
      case 'stopping':
        return; // their end calls converge again
      case 'running':
        if (want === null || changed) this.stop();
        return;
      case 'backoff':
        if (want === null) {
          this.cancelTimer?.();
          this.setPhase('stopped');
          this.converge();
        } else if (changed) {
          this.cancelTimer?.();
          this.launch(want);
        }
        return;
      case 'stopped':
        if (want === null) {
          this.finishRemoval();
        } else if (want) {
          this.resolveRemovals(); // ensured again while being removed: the process they waited for is gone all the same
          this.launch(want);
        }
        return;
    }
  }

  /** Starts `spec`: a new spec starts over from zero restarts, the same one counts a restart. */
  private launch(spec: InstanceSpec): void {
    const hash = specHash(spec);
    if (hash !== this.hash) {
      this.restarts = 0;
      this.crashBackoff.reset();
    } else if (this.lastExit) {
      this.restarts++;
    }
    this.spec = spec;
    this.hash = hash;
    this.stopRequested = false;
    this.killedAfterGrace = false;
    this.backoffUntilMs = undefined;
    this.setPhase('starting');
    this.start(spec).catch((err: unknown) => this.log.error({ err }, 'instance supervisor failed after starting a process'));
  }

  /** Limits, sandbox, spawn; a failure anywhere becomes an Error exit and a backoff. */
  private async start(spec: InstanceSpec): Promise<void> {
    const env = { ...this.ctx.baseEnv, ...spec.env, PORT: String(spec.port), TEND_INSTANCE: spec.id };
    const cwd = spec.workingDir ?? this.ctx.workingDir;
    const logPath = this.ctx.stateDir.logPath(spec.id);
    let process: InstanceProcess;
    let startedAtMs = 0;
    try {
      const sandbox = this.ctx.sandbox;
      if (sandbox) {
        this.uid ??= sandbox.uids.allocate();
        await sandbox.sandbox.prepareVolumes(spec.volumeDirs ?? [], this.uid);
      }
      // The run is named by this moment, just before the spawn (no await between them): the
      // process's first line belongs to it, and nothing else writes the log until then.
      startedAtMs = this.ctx.clock.now();
      this.logOffset = this.ctx.logs.runStarting(spec.id, this.iso(startedAtMs));
      if (sandbox) {
        const volumes = spec.volumeDirs ?? [];
        const launch = sandbox.sandbox.launch({ command: spec.command, env, uid: this.uid!, workDir: cwd, volumes });
        const argv = this.ctx.memory.prepare({ ...spec, command: launch.argv });
        process = await spawnInstance({ argv, env: launch.env, cwd, logPath, fd3: { path: this.ctx.stateDir.envScriptPath(spec.id), text: launch.script } });
      } else {
        process = await spawnInstance({ argv: this.ctx.memory.prepare(spec), env, cwd, logPath });
      }
    } catch (err) {
      this.startFailed(err);
      return;
    }
    this.attach(process, startedAtMs, true);
  }

  private attach(process: InstanceProcess, startedAtMs: number, started: boolean, wasReady = false): void {
    if (started) this.record(process, startedAtMs); // first, so even a runtime closed meanwhile leaves it adoptable
    if (this.detached) {
      process.detach();
      return;
    }
    this.process = process;
    this.startedAtMs = startedAtMs;
    this.phase = 'running';
    this.log.info({ pid: process.pid, restarts: this.restarts, adopted: !started }, started ? 'instance started' : 'instance adopted');
    try {
      this.memoryWatch = this.ctx.memory.watch(this.spec, process.pid, () => this.signal(process, 'SIGKILL'));
    } catch (err) {
      this.log.error({ err }, 'memory guard could not watch the instance; it runs without its memory limit');
    }
    const check = this.spec.healthCheck;
    if (check) {
      this.ready = wasReady;
      this.health = new HealthChecker({
        port: this.spec.port,
        check,
        clock: this.ctx.clock,
        initiallyReady: wasReady,
        onReadyChange: (ready, detail) => {
          if (this.process !== process || this.phase !== 'running') return;
          this.ready = ready;
          this.record(process, startedAtMs); // the readiness a new runtime adopts
          if (ready) {
            this.log.info({ detail }, 'instance is ready');
            this.publish();
            return;
          }
          // A ready instance that stops answering is wedged: restart it (the App's healthCheck
          // contract), through the same exit path and crash backoff as a crash.
          this.unhealthy = `restarted after failing its health check: ${detail}`;
          this.log.warn({ detail }, 'instance failed its health check; restarting it');
          this.publish();
          this.signal(process, 'SIGKILL');
        },
      });
      this.health.start();
    } else {
      this.ready = true;
    }
    void process.exited.then((exit) => this.exited(process, exit));
    this.publish();
    this.converge(); // a newer spec or a removal may have arrived while it was starting
  }

  private record(process: InstanceProcess, startedAtMs: number): void {
    const { spec } = this;
    try {
      this.ctx.stateDir.write({
        version: 1, id: spec.id, pid: process.pid, startTime: process.startTime, specHash: this.hash,
        port: spec.port, restarts: this.restarts, startedAt: this.iso(startedAtMs), spec,
        ...(this.uid !== undefined ? { uid: this.uid } : {}),
        ...(this.ready ? { ready: true } : {}),
        ...(this.logOffset !== undefined ? { logOffset: this.logOffset } : {}),
      });
    } catch (err) {
      this.log.error({ err }, 'could not record the instance; a restarted agent will not adopt it');
    }
  }

  private startFailed(err: unknown): void {
    if (this.detached) return;
    const message = `could not start: ${(err as Error).message ?? String(err)}`;
    this.log.warn({ err }, message);
    const now = this.ctx.clock.now();
    this.lastExit = { code: null, signal: null, reason: 'Error', at: this.iso(now), message };
    this.afterExit(now, 0);
  }

  private exited(process: InstanceProcess, exit: ProcessExit): void {
    if (this.detached || this.process !== process) return;
    const oom = this.memoryWatch?.oomKill();
    this.memoryWatch?.stop();
    this.health?.stop();
    this.memoryWatch = undefined;
    this.health = undefined;
    this.cancelTimer?.();
    this.signal(process, 'SIGKILL'); // whatever the leader left behind in its group
    this.process = undefined;
    this.ready = false;
    const now = this.ctx.clock.now();
    const reason: InstanceExit['reason'] = oom
      ? 'OOMKilled'
      : this.killedAfterGrace
        ? 'Killed'
        : exit.observed
          ? exit.code === 0 ? 'Completed' : 'Error'
          : this.stopRequested ? 'Completed' : 'Error';
    const unhealthy = this.unhealthy;
    this.unhealthy = undefined;
    const message =
      oom ??
      unhealthy ??
      (this.killedAfterGrace ? `did not exit within ${this.spec.stopGraceMs ?? DEFAULT_STOP_GRACE_MS} ms of SIGTERM` : undefined) ??
      (exit.observed ? undefined : `adopted process ${process.pid} exited; its exit status is not observable`);
    this.lastExit = { code: exit.code, signal: exit.signal, reason, at: this.iso(now), ...(message ? { message } : {}) };
    this.log.info({ pid: process.pid, ...this.lastExit }, 'instance exited');
    this.afterExit(now, now - (this.startedAtMs ?? now));
  }

  /** After a process ended or failed to start: stopped if it was asked to, else CrashLoopBackOff. */
  private afterExit(now: number, ranForMs: number): void {
    const want = this.desired;
    const keep = want === undefined || (want !== null && specHash(want) === this.hash);
    if (this.stopRequested || !keep) {
      this.setPhase('stopped');
      this.converge();
      return;
    }
    const delay = this.crashBackoff.next(ranForMs);
    this.backoffUntilMs = now + delay;
    // Part of the exit's record: the App says when the next restart comes from this one report.
    if (this.lastExit) this.lastExit = { ...this.lastExit, restartAt: this.iso(now + delay) };
    this.setPhase('backoff');
    this.cancelTimer = this.ctx.clock.setTimer(() => {
      this.cancelTimer = undefined;
      if (!this.detached && this.phase === 'backoff') this.launch(this.spec);
    }, delay);
  }

  /** SIGTERM to the group, SIGKILL after the grace period; `exited` takes it from there. */
  private stop(): void {
    const process = this.process;
    if (!process) return;
    this.stopRequested = true;
    this.health?.stop();
    this.ready = false;
    this.setPhase('stopping');
    const grace = this.spec.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    this.signal(process, 'SIGTERM');
    this.cancelTimer = this.ctx.clock.setTimer(() => {
      this.cancelTimer = undefined;
      if (this.detached || this.process !== process) return;
      this.killedAfterGrace = true;
      this.log.warn({ pid: process.pid, graceMs: grace }, 'instance ignored SIGTERM: killing it');
      this.signal(process, 'SIGKILL');
    }, grace);
  }

  private finishRemoval(): void {
    try {
      this.ctx.stateDir.remove(this.id);
      this.ctx.logs.removed(this.id);
      this.ctx.stateDir.removeLogs(this.id);
      this.ctx.memory.release(this.id);
      if (this.uid !== undefined) this.ctx.sandbox?.uids.release(this.uid);
      this.uid = undefined;
    } catch (err) {
      this.log.error({ err }, 'could not clean up after a removed instance');
    }
    this.ctx.forget(this);
    this.resolveRemovals();
  }

  private resolveRemovals(): void {
    for (const resolve of this.waitingForRemoval.splice(0)) resolve();
  }

  private signal(process: InstanceProcess, signal: NodeJS.Signals): void {
    try {
      process.signal(signal);
    } catch (err) {
      this.log.error({ err, pid: process.pid, signal }, 'could not signal the instance');
    }
  }

  private setPhase(phase: InstancePhase): void {
    this.phase = phase;
    if (phase !== 'running') this.ready = false;
    this.publish();
  }

  private publish(): void {
    const status = this.status();
    const text = JSON.stringify(status);
    if (text === this.lastPublished) return; // unchanged ⇒ no event
    this.lastPublished = text;
    this.ctx.publish(status);
  }

  private iso(ms: number): string {
    return new Date(ms).toISOString();
  }
}
