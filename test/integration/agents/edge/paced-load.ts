/**
 * Open-loop load for the rate-limit tests: requests at a fixed rate whatever the answers (a
 * closed loop would send faster the more is refused), spread over edges by weight as a load
 * balancer does, each failing over to the next edge when its own refuses or drops the connection.
 * Every answer is kept with its time, so the admitted rate of any window can be read afterwards.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

/** One answered request: when (ms, performance.now()), by which edge (index), with what status. */
export interface Outcome {
  readonly at: number;
  readonly edge: number;
  readonly status: number;
}

export interface PacedLoadOptions {
  /** The edges' HTTP ports. */
  readonly ports: readonly number[];
  readonly host: string;
  /** Requests per second offered in all. */
  readonly ratePerSecond: number;
}

/** Requests at a steady rate until `stop()`. */
export class PacedLoad {
  readonly outcomes: Outcome[] = [];
  /** Requests no edge answered. */
  failed = 0;
  private readonly agents: Agent[];
  private weights: number[];
  private sent = 0;
  private readonly startedAt = performance.now();
  private readonly timer: NodeJS.Timeout;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: PacedLoadOptions) {
    this.agents = options.ports.map(() => new Agent({ keepAlive: true, maxSockets: 64 }));
    this.weights = options.ports.map(() => 1);
    this.timer = setInterval(() => this.tick(), 5);
  }

  /** How the load is spread from now on: one weight per edge (0: none of it, unless failing over). */
  setWeights(weights: readonly number[]): void {
    this.weights = [...weights];
  }

  /** Admitted (200) answers per second in [from, to), all edges or one. */
  admitted(from: number, to: number, edge?: number): number {
    let n = 0;
    for (const o of this.outcomes) if (o.status === 200 && o.at >= from && o.at < to && (edge === undefined || o.edge === edge)) n++;
    return n / ((to - from) / 1000);
  }

  /** Answers per second in [from, to), of any status. */
  answered(from: number, to: number): number {
    let n = 0;
    for (const o of this.outcomes) if (o.at >= from && o.at < to) n++;
    return n / ((to - from) / 1000);
  }

  /** Admitted per second in each whole second from `from` to now, for a failure message. */
  series(from: number): number[] {
    const out: number[] = [];
    for (let t = from; t + 1000 <= performance.now(); t += 1000) out.push(Math.round(this.admitted(t, t + 1000)));
    return out;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.pending);
    for (const agent of this.agents) agent.destroy();
  }

  private tick(): void {
    const due = Math.floor(((performance.now() - this.startedAt) * this.options.ratePerSecond) / 1000) - this.sent;
    for (let i = 0; i < due; i++) {
      const first = this.pick(this.sent++);
      const p = this.send(first, 0).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /** The edge for request number `seq`: weighted round robin. */
  private pick(seq: number): number {
    const total = this.weights.reduce((a, b) => a + b, 0);
    let slot = seq % total;
    for (let i = 0; i < this.weights.length; i++) {
      if (slot < this.weights[i]!) return i;
      slot -= this.weights[i]!;
    }
    return 0;
  }

  private async send(edge: number, tries: number): Promise<void> {
    if (tries >= this.options.ports.length) {
      this.failed++;
      return;
    }
    try {
      const status = await this.once(edge);
      this.outcomes.push({ at: performance.now(), edge, status });
    } catch {
      // Refused (down) or dropped (killed under the request): the next edge, as a load balancer does.
      await this.send((edge + 1) % this.options.ports.length, tries + 1);
    }
  }

  private once(edge: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.options.ports[edge], path: '/', headers: { host: this.options.host }, agent: this.agents[edge] }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.setTimeout(5_000, () => req.destroy(new Error('no answer within 5 s')));
      req.on('error', reject);
      req.end();
    });
  }
}
