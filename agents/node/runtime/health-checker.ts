import { request } from 'node:http';
import type { Clock } from '../../../framework/index.js';
import type { InstanceSpec } from './runtime.js';

export type HealthCheck = NonNullable<InstanceSpec['healthCheck']>;

export interface HealthCheckerOptions {
  readonly port: number;
  readonly check: HealthCheck;
  readonly clock: Clock;
  /** Called when readiness flips, with the probe result that flipped it. */
  readonly onReadyChange: (ready: boolean, detail: string) => void;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Start ready (an adopted instance that was): only failureThreshold failures flip it. @default false */
  readonly initiallyReady?: boolean;
}

/** The result of one probe: 2xx and 3xx pass, anything else (refused, timeout, 5xx) fails. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
}

const STARTUP_PROBE_MS = 500;

/**
 * Probes one instance's health endpoint every `periodMs`: ready after one pass, not ready after
 * `failureThreshold` failures in a row. It only reports; the supervisor restarts an instance that
 * turns unhealthy, as the App's healthCheck promises (like a kubelet liveness probe).
 * A probe starts `periodMs` after the previous one finished, so slow probes never pile up; before
 * the first pass, every 500 ms at most.
 */
export class HealthChecker {
  private ready = false;
  private everReady = false;
  private failures = 0;
  private stopped = false;
  private cancelTimer: (() => void) | undefined;
  private readonly url: string;

  constructor(private readonly options: HealthCheckerOptions) {
    this.url = `http://${options.host ?? '127.0.0.1'}:${options.port}${options.check.path}`;
    this.ready = this.everReady = options.initiallyReady ?? false;
  }

  /** Probes now and then every period, until `stop`. */
  start(): void {
    this.schedule(0);
  }

  /** No more probes; a probe in flight is ignored when it answers. */
  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
  }

  /** Whether the last probes make the instance ready. */
  isReady(): boolean {
    return this.ready;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.cancelTimer = this.options.clock.setTimer(() => void this.probeOnce(), ms);
  }

  private async probeOnce(): Promise<void> {
    const { check, clock } = this.options;
    const result = await probeHttp(this.url, check.timeoutMs, clock);
    if (this.stopped) return;
    if (result.ok) {
      this.failures = 0;
      if (!this.ready) this.flip(true, result.detail);
    } else {
      this.failures++;
      if (this.ready && this.failures >= check.failureThreshold) {
        this.flip(false, `${this.failures} probes failed in a row, last: ${result.detail}`);
      }
    }
    // Until the first pass, probe every 500 ms: a fresh process binds its port within moments,
    // and a full period (5 s by default) of waiting would delay its first request for nothing.
    this.schedule(this.everReady ? check.periodMs : Math.min(check.periodMs, STARTUP_PROBE_MS));
  }

  private flip(ready: boolean, detail: string): void {
    this.ready = ready;
    if (ready) this.everReady = true;
    this.options.onReadyChange(ready, detail);
  }
}

/** One GET without keep-alive (a pooled socket would outlive the instance); never rejects. */
export function probeHttp(url: string, timeoutMs: number, clock: Clock): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      cancelTimeout();
      req.destroy();
      resolve(result);
    };
    const req = request(url, { method: 'GET', agent: false, headers: { 'user-agent': 'tend-node-agent/health' } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      finish({ ok: status >= 200 && status < 400, detail: `GET ${url}: ${status}` });
    });
    const cancelTimeout = clock.setTimer(() => finish({ ok: false, detail: `GET ${url}: no answer within ${timeoutMs} ms` }), timeoutMs);
    req.on('error', (err) => finish({ ok: false, detail: `GET ${url}: ${err.message}` }));
    req.end();
  });
}
