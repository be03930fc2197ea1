/**
 * A TCP proxy in the test process between tend and PostgreSQL that fails the network on purpose,
 * as Toxiproxy does: pass, delay every chunk, cut every connection (a reset, as when a server or
 * a NAT box restarts), or blackhole (connections stay open and nothing passes either way, as in a
 * partition; new ones connect to the proxy and hang). A blackhole ends in one of three ways:
 * `resume` (the partition healed before TCP gave up: held bytes are delivered), `reset` (it
 * outlasted TCP: held connections are cut), or `abandon` (the path's state is gone for good, as
 * when a NAT or load balancer forgets it: held connections stay dead and silent, new ones pass).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type Fault = { readonly kind: 'none' } | { readonly kind: 'delay'; readonly ms: number } | { readonly kind: 'blackhole' };

interface Pair {
  readonly client: Socket;
  readonly server: Socket;
  /** Bytes held while blackholed, per direction, in order. */
  held: { readonly to: Socket; readonly chunk: Buffer }[];
  /** Never passes anything again (abandoned). */
  dead: boolean;
}

/** Counts of what the proxy did, for the test's own checks. */
export interface FaultProxyStats {
  readonly connections: number;
  readonly open: number;
  readonly cut: number;
}

/** A proxy listening on 127.0.0.1 in front of `target`. */
export class FaultProxy {
  private fault: Fault = { kind: 'none' };
  private readonly pairs = new Set<Pair>();
  private connections = 0;
  private cutCount = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Starts a proxy to `target` on a free loopback port. */
  static async start(target: { readonly host: string; readonly port: number }): Promise<FaultProxy> {
    let proxy!: FaultProxy;
    const server = createServer((client) => proxy.accept(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('fault proxy: no TCP address');
    proxy = new FaultProxy(server, address.port);
    return proxy;
  }

  /** `url` (a postgres:// URL) with its host and port replaced by the proxy's. */
  url(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  /** Every chunk, both ways, waits `ms` before it is passed on (in order). */
  delay(ms: number): void {
    this.fault = { kind: 'delay', ms };
  }

  /** Nothing passes on any connection, open or new, until `heal`. */
  blackhole(): void {
    this.fault = { kind: 'blackhole' };
  }

  /** Resets every open connection now; new ones pass (unless a fault says otherwise). */
  cut(): void {
    for (const pair of [...this.pairs]) this.destroy(pair, true);
  }

  /** Back to passing. What a blackhole held is delivered, cut, or left dead (see the module doc). */
  heal(held: 'resume' | 'reset' | 'abandon' = 'resume'): void {
    const wasBlackhole = this.fault.kind === 'blackhole';
    this.fault = { kind: 'none' };
    if (!wasBlackhole) return;
    for (const pair of [...this.pairs]) {
      if (held === 'reset') this.destroy(pair, true);
      else if (held === 'abandon') {
        pair.dead = true;
        pair.held = [];
      } else {
        for (const { to, chunk } of pair.held.splice(0)) to.write(chunk);
      }
    }
  }

  stats(): FaultProxyStats {
    return { connections: this.connections, open: this.pairs.size, cut: this.cutCount };
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    for (const pair of [...this.pairs]) this.destroy(pair, false);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, target: { readonly host: string; readonly port: number }): void {
    this.connections++;
    const server = connect(target.port, target.host);
    const pair: Pair = { client, server, held: [], dead: false };
    this.pairs.add(pair);
    const forward = (to: Socket) => (chunk: Buffer) => {
      if (pair.dead) return;
      const fault = this.fault;
      if (fault.kind === 'blackhole') pair.held.push({ to, chunk });
      else if (fault.kind === 'delay') setTimeout(() => !pair.dead && !to.destroyed && to.write(chunk), fault.ms);
      else to.write(chunk);
    };
    client.on('data', forward(server));
    server.on('data', forward(client));
    // A side that ends or fails takes the other down with it, as a real hop would; across a
    // blackhole the other side never hears of it (the server giving up on a partitioned client).
    for (const socket of [client, server]) {
      const gone = () => {
        if (this.fault.kind === 'blackhole' || pair.dead) {
          pair.dead = true;
          pair.held = [];
        } else this.destroy(pair, false);
      };
      socket.on('error', gone);
      socket.on('close', gone);
    }
  }

  private destroy(pair: Pair, reset: boolean): void {
    if (!this.pairs.delete(pair)) return;
    if (reset) this.cutCount++;
    pair.dead = true;
    for (const socket of [pair.client, pair.server]) {
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}
