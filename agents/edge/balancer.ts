/**
 * Which backend of a route gets the next request: round robin over the backends that are not
 * ejected. A backend that refused a connection is ejected for a short time (passive health
 * checking, like Envoy's outlier detection): the table only says which instances the control
 * plane last saw healthy, and it learns of a crash seconds later than the edge does.
 *
 * Ejections are kept by address, outside the routing table, so they survive a table swap: an
 * unrelated route change must not send traffic back to a backend that just refused it.
 */
import { type Clock, systemClock } from '../../framework/index.js';
import type { Backend, RouteEntry } from './routing-table.js';

export interface BalancerOptions {
  /** How long a backend that refused a connection gets no traffic. @default 5_000 */
  readonly ejectMs?: number;
  /** @default the system clock */
  readonly clock?: Clock;
}

/** `address:port`, the identity of a backend across tables (an instance id may be reused). */
export function backendKey(backend: Backend): string {
  return backend.address.includes(':') ? `[${backend.address}]:${backend.port}` : `${backend.address}:${backend.port}`;
}

/** Round robin over the healthy backends of each route, with time-limited ejection. */
export class Balancer {
  private readonly ejectMs: number;
  private readonly clock: Clock;
  /** backendKey → when the ejection ends (ms since the epoch). */
  private readonly ejected = new Map<string, number>();
  // Keyed by the entry object: a new table starts a route's rotation afresh, and the counters of
  // routes that are gone are collected with their table instead of piling up.
  private readonly next = new WeakMap<RouteEntry, number>();

  constructor(options: BalancerOptions = {}) {
    this.ejectMs = options.ejectMs ?? 5_000;
    this.clock = options.clock ?? systemClock;
    if (!Number.isInteger(this.ejectMs) || this.ejectMs < 0) {
      throw new TypeError(`balancer: ejectMs must be a whole number of milliseconds, got ${String(options.ejectMs)}`);
    }
  }

  /**
   * The next backend of `entry` in rotation that is neither ejected nor in `exclude` (the
   * backends a request already tried); undefined when there is none.
   */
  pick(entry: RouteEntry, exclude?: ReadonlySet<string>): Backend | undefined {
    const { backends } = entry;
    const start = this.next.get(entry) ?? 0;
    for (let i = 0; i < backends.length; i++) {
      const index = (start + i) % backends.length;
      const backend = backends[index]!;
      const key = backendKey(backend);
      if (exclude?.has(key) || this.isEjected(key)) continue;
      this.next.set(entry, index + 1);
      return backend;
    }
    return undefined;
  }

  /** Takes `backend` out of rotation, on every route, for `ejectMs`. Returns false if it already was. */
  eject(backend: Backend): boolean {
    const key = backendKey(backend);
    const was = this.isEjected(key);
    this.ejected.set(key, this.clock.now() + this.ejectMs);
    return !was;
  }

  /** Whether the backend is out of rotation right now. */
  isEjected(key: string): boolean {
    const until = this.ejected.get(key);
    if (until === undefined) return false;
    if (until > this.clock.now()) return true;
    this.ejected.delete(key);
    return false;
  }

  /** How many of `entry`'s backends may take a request now. */
  healthyCount(entry: RouteEntry): number {
    return entry.backends.filter((b) => !this.isEjected(backendKey(b))).length;
  }
}
