import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';

/** How to launch one server of the test environment. */
export interface ServerProcessOptions {
  /** Short name used in errors ("etcd", "kube-apiserver"). */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Every line the server prints goes here (appended, so restarts keep history). */
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** What `stop()` sends first. @default SIGTERM */
  readonly stopSignal?: NodeJS.Signals;
  /** Run as this user (PostgreSQL refuses to run as root). */
  readonly uid?: number;
  readonly gid?: number;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A child process whose output is kept in a log file and whose exit is observable. */
export class ServerProcess {
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  private readonly log: WriteStream;

  private constructor(
    readonly options: ServerProcessOptions,
    private readonly child: ChildProcess,
  ) {
    this.log = createWriteStream(options.logFile, { flags: 'a' });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      child.on('error', (err) => {
        this.log.write(`\n[tend test env] failed to start ${options.command}: ${err.message}\n`);
        this.exit = { code: -1, signal: null };
        resolve(this.exit);
      });
    });
  }

  /** Starts the process; it runs until `stop()`. */
  static start(options: ServerProcessOptions): ServerProcess {
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
    return new ServerProcess(options, child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** The last `lines` lines of the server's log. */
  tail(lines = 40): string {
    try {
      return readFileSync(this.options.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** The stop signal (SIGTERM unless the options say otherwise), then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<Exit> {
    if (this.exit) return this.close(this.exit);
    this.child.kill(this.options.stopSignal ?? 'SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return this.close(exit);
  }

  /** SIGKILL at once: the crash a test wants to survive. */
  async kill(): Promise<Exit> {
    if (!this.exit) this.child.kill('SIGKILL');
    return this.close(await this.exited);
  }

  private async close(exit: Exit): Promise<Exit> {
    // 'exit' can come before the last output: stop piping first, or that output would be
    // written to an ended log (an uncaught "write after end").
    this.child.stdout?.unpipe(this.log);
    this.child.stderr?.unpipe(this.log);
    if (!this.log.writableEnded) await new Promise<void>((resolve) => this.log.end(resolve));
    return exit;
  }
}

/** Polls `check` until it returns a value, failing early if `server` exits and late at the deadline. */
export async function waitForServer<T>(
  server: ServerProcess,
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    if (!server.running) {
      throw new Error(`${server.options.name} exited before ${what}:\n${server.tail()}`);
    }
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`${server.options.name}: no ${what} within ${timeoutMs} ms${cause}:\n${server.tail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** A server that can be stopped and started again on the same ports and data. */
export interface RestartableServer {
  readonly process: ServerProcess;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Wraps `launch` (start and wait until ready) into stop/restart, always holding the current process. */
export async function restartable(launch: () => Promise<ServerProcess>): Promise<RestartableServer> {
  let current = await launch();
  return {
    get process() {
      return current;
    },
    async restart() {
      await current.stop();
      current = await launch();
    },
    async stop() {
      await current.stop();
    },
  };
}
