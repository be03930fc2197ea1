import type { Logger } from 'pino';
import type { Key } from '../reconcile/index.js';
import type { Store } from '../store/index.js';
import { systemClock, type Clock } from '../time/clock.js';
import { sleep } from '../time/sleep.js';
import type { Ownership } from './ownership.js';
import { heartbeatMember, joinMembers, leaveMembers, liveMembers, reapMembers } from './queries.js';
import { rendezvousOwner } from './rendezvous.js';

export interface MembershipOptions {
  readonly store: Store;
  /** This replica's name, for people (pod or host name). */
  readonly name: string;
  readonly logger: Logger;
  /** How often the replica renews its row and re-reads the member list. @default 2_000 */
  readonly heartbeatMs?: number;
  /** A member that has not renewed for this long is dead and loses its keys. @default 10_000 */
  readonly ttlMs?: number;
  /** A newcomer owns keys only after this delay, so every replica has seen it first. @default 3_000 */
  readonly joinDelayMs?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

interface Member {
  readonly id: bigint;
  readonly name: string;
  readonly activeMs: number;
  readonly expiresMs: number;
}

type Owns = (controller: string, key: Key) => boolean;

/**
 * This replica's place among all replicas, kept in PostgreSQL (see docs/coordination.md). Keys
 * are shared by rendezvous hashing over the *active* members — those past their join delay and
 * before their expiry, judged by the database's clock so that every replica switches together.
 */
export class Membership implements Ownership {
  private selfId: bigint | undefined;
  private members: Member[] = [];
  private active: bigint[] = [];
  /** Database clock minus local clock, measured at each read of the member list. */
  private offsetMs = 0;
  private readonly handlers = new Set<(ownedBefore: Owns) => void>();
  private cancelBoundary: (() => void) | undefined;
  private resolveReady!: () => void;
  private readonly readyPromise = new Promise<void>((resolve) => (this.resolveReady = resolve));
  private readonly clock: Clock;
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private readonly joinDelayMs: number;
  private readonly log: Logger;
  private beats = 0;
  /** selfId as of the last recompute, to tell subscribers what they owned before. */
  private lastSelf: bigint | undefined;

  constructor(private readonly options: MembershipOptions) {
    this.clock = options.clock ?? systemClock;
    this.heartbeatMs = options.heartbeatMs ?? 2_000;
    this.ttlMs = options.ttlMs ?? 10_000;
    this.joinDelayMs = options.joinDelayMs ?? 3_000;
    if (this.ttlMs < 2 * this.heartbeatMs) {
      throw new RangeError(`Membership: ttlMs (${this.ttlMs}) must be at least twice heartbeatMs (${this.heartbeatMs})`);
    }
    this.log = options.logger.child({ component: 'membership' });
  }

  /** Joins, heartbeats until `signal` aborts, then leaves. Never throws: failures are retried. */
  async start(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.beat();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'membership heartbeat failed; retrying');
        this.recompute();
      }
      await sleep(this.heartbeatMs, signal, this.clock);
    }
    this.cancelBoundary?.();
    if (this.selfId !== undefined) {
      const id = this.selfId;
      this.selfId = undefined;
      this.recompute();
      await this.options.store.query(leaveMembers, [String(id)]).catch((err: Error) =>
        this.log.warn({ err: err.message }, 'could not leave the member list; my row will expire'),
      );
      this.log.info({ member: String(id) }, 'left the member list');
    }
  }

  /** Resolves once this replica has joined and read the member list. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  owns(controller: string, key: Key): boolean {
    return ownerCheck(this.selfId, this.active)(controller, key);
  }

  fence(): bigint {
    // -1 matches no member row, so a guarded write without a live membership fails.
    return this.selfId ?? -1n;
  }

  onChange(handler: (ownedBefore: Owns) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Ids of the members owning keys now (this replica included when active). */
  activeMembers(): readonly bigint[] {
    return this.active;
  }

  /** This replica's member id, while it has one. */
  get id(): bigint | undefined {
    return this.selfId;
  }

  private async beat(): Promise<void> {
    const { store } = this.options;
    if (this.selfId !== undefined) {
      const renewed = await store.query<{ id: string }>(heartbeatMember, [String(this.selfId), this.ttlMs]);
      if (renewed.length === 0) {
        // Paused or cut off past our expiry: others own our keys now. Rejoin under a new fence.
        this.log.warn({ member: String(this.selfId) }, 'membership expired; rejoining under a new id');
        this.selfId = undefined;
        this.recompute();
      }
    }
    if (this.selfId === undefined) {
      const [row] = await store.query<{ id: string }>(joinMembers, [this.options.name, this.joinDelayMs, this.ttlMs]);
      this.selfId = BigInt(row!.id);
      this.log.info({ member: row!.id, joinDelayMs: this.joinDelayMs }, 'joined the member list');
    }
    const sent = this.clock.now();
    const rows = await store.query<{ id: string | null; name: string; active_ms: string; expires_ms: string; now_ms: string }>(liveMembers);
    const dbNow = Number(rows.at(-1)!.now_ms);
    this.offsetMs = dbNow - (sent + this.clock.now()) / 2;
    this.members = rows
      .filter((r) => r.id !== null)
      .map((r) => ({ id: BigInt(r.id!), name: r.name, activeMs: Number(r.active_ms), expiresMs: Number(r.expires_ms) }));
    if (++this.beats % 30 === 0) await store.query(reapMembers);
    this.recompute();
    this.resolveReady();
  }

  /** Recomputes the active set at the database's now; tells subscribers when ownership changed. */
  private recompute(): void {
    const now = this.clock.now() + this.offsetMs;
    const active = this.members
      .filter((m) => m.activeMs <= now && now < m.expiresMs)
      .map((m) => m.id)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (active.join() !== this.active.join() || this.selfId !== this.lastSelf) {
      const ownedBefore = ownerCheck(this.lastSelf, this.active);
      this.active = active;
      this.lastSelf = this.selfId;
      this.log.info({ members: active.map(String), self: String(this.selfId ?? 'none') }, 'ownership changed');
      for (const handler of this.handlers) handler(ownedBefore);
    }
    // Wake up at the next activation or expiry, so ownership moves on time between heartbeats.
    this.cancelBoundary?.();
    const next = Math.min(...this.members.flatMap((m) => [m.activeMs, m.expiresMs]).filter((t) => t > now));
    if (Number.isFinite(next)) this.cancelBoundary = this.clock.setTimer(() => this.recompute(), next - now + 1);
  }
}

/** owns() for a given self and active set; nobody owns anything while self is not active. */
function ownerCheck(self: bigint | undefined, active: readonly bigint[]): Owns {
  if (self === undefined || !active.includes(self)) return () => false;
  return (controller, key) => rendezvousOwner(active, `${controller}\u0000${key}`) === self;
}
