/**
 * @module
 * Leader-less coordination (docs/coordination.md): which replica reconciles which key, and the
 * fence that keeps a replica that lost a key from writing.
 *
 * Design notes
 * - membership.ts: every replica heartbeats a row in `tend.members`; the live members form one
 *   stored view (`tend.membership_view`) whose epoch moves when the set changes.
 * - rendezvous.ts: a key belongs to the member of the view with the highest hash(member, key),
 *   computed alike by every replica, so a change moves only the keys of who came or went.
 * - ownership.ts: what the runtime asks before each reconcile (`owns`, `fence`, `onChange`).
 * - fence.ts: `tend.fenced($n)` in every guarded write (or `fencedTx`): refused unless the epoch
 *   the key was handed out under is still current — correctness never rests on ownership alone.
 * - membership-queries.ts: the SQL, as named queries.
 *
 * ```ts
 * const membership = new Membership({ store, name: 'tend-0', logger });
 * void membership.start(signal);
 * await membership.ready();
 * if (membership.owns('app', key)) await store.query(upsertApp, [key, spec, String(membership.fence())]);
 * ```
 */
import type { Logger } from 'pino';
import type { Key } from '../reconcile/index.js';
import type { Store } from '../store/index.js';
import { systemClock, type Clock } from '../time/clock.js';
import { sleep } from '../time/sleep.js';
import type { Ownership } from './ownership.js';
import { advanceView, heartbeatMember, joinMembers, leaveMembers, membershipState, reapMembers } from './membership-queries.js';
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
  readonly activeMs: number;
  readonly expiresMs: number;
}

/** The stored view of the member set: keys are shared among `members` under `epoch`. */
interface View {
  readonly epoch: bigint;
  readonly members: readonly bigint[];
}

type Owns = (controller: string, key: Key) => boolean;

const NO_VIEW: View = { epoch: -1n, members: [] };

/**
 * This replica's place among all replicas, kept in PostgreSQL (see docs/coordination.md). Keys
 * are shared by rendezvous hashing over the members of one stored view (`tend.membership_view`),
 * whose epoch moves whenever the set of active members — past their join delay, before their
 * expiry, by the database's clock — changes. A replica owns keys only while it is in the view it
 * last read and its own row has not expired by its own reckoning; the epoch of that view is its
 * fencing token, so a replica that wakes up with a stale view cannot write, alive or not.
 */
export class Membership implements Ownership {
  private selfId: bigint | undefined;
  /** Our row's expiry (database clock), as of the last read: past it we own nothing. */
  private selfExpiresMs = 0;
  private members: Member[] = [];
  private view: View = NO_VIEW;
  /** The view while this replica holds a claim in it (member of it, row live); else NO_VIEW. */
  private claim: View = NO_VIEW;
  private claimSelf: bigint | undefined;
  /** Database clock minus local clock, measured at each read of the member list. */
  private offsetMs = 0;
  private nextRenewMs = 0;
  private readonly handlers = new Set<(ownedBefore: Owns) => void>();
  private cancelExpiry: (() => void) | undefined;
  private resolveReady!: () => void;
  private readonly readyPromise = new Promise<void>((resolve) => (this.resolveReady = resolve));
  private readonly clock: Clock;
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private readonly joinDelayMs: number;
  private readonly log: Logger;
  private beats = 0;

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
      let nap: number;
      try {
        await this.beat();
        nap = this.napMs();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'membership heartbeat failed; retrying');
        this.recompute();
        nap = this.heartbeatMs;
      }
      await sleep(nap, signal, this.clock);
    }
    this.cancelExpiry?.();
    if (this.selfId !== undefined) {
      const id = this.selfId;
      this.selfId = undefined;
      this.recompute();
      try {
        await this.options.store.query(leaveMembers, [String(id)]);
        // Move the view on ourselves, so the others take our keys at their next read.
        await this.options.store.query(advanceView, [this.lockTimeoutMs()]);
        this.log.info({ member: String(id) }, 'left the member list');
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'could not leave the member list; my row will expire');
      }
    }
  }

  /** Resolves once this replica has joined and read the member list. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  owns(controller: string, key: Key): boolean {
    return ownerCheck(this.claimSelf, this.claim)(controller, key);
  }

  fence(): bigint {
    // -1 is no epoch, so a guarded write without a claim in the current view is refused.
    return this.claim.epoch;
  }

  onChange(handler: (ownedBefore: Owns) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Ids of the members owning keys in the view this replica last read (itself included when active). */
  activeMembers(): readonly bigint[] {
    return this.view.members;
  }

  /** Epoch of the view this replica last read (-1 before the first read). */
  get epoch(): bigint {
    return this.view.epoch;
  }

  /** This replica's member id, while it has one. */
  get id(): bigint | undefined {
    return this.selfId;
  }

  private async beat(): Promise<void> {
    const { store } = this.options;
    if (this.selfId !== undefined && this.clock.now() >= this.nextRenewMs) {
      const renewed = await store.query<{ id: string }>(heartbeatMember, [String(this.selfId), this.ttlMs]);
      if (renewed.length === 0) {
        // Paused or cut off past our expiry: others own our keys now. Rejoin under a new id.
        this.log.warn({ member: String(this.selfId) }, 'membership expired; rejoining under a new id');
        this.selfId = undefined;
        this.recompute();
      } else {
        this.nextRenewMs = this.clock.now() + this.heartbeatMs;
      }
    }
    if (this.selfId === undefined) {
      const [row] = await store.query<{ id: string }>(joinMembers, [this.options.name, this.joinDelayMs, this.ttlMs]);
      this.selfId = BigInt(row!.id);
      this.nextRenewMs = this.clock.now() + this.heartbeatMs;
      this.log.info({ member: row!.id, joinDelayMs: this.joinDelayMs }, 'joined the member list');
    }
    const sent = this.clock.now();
    const [state] = await store.query<{ now_ms: string; epoch: string; view: string[]; active: string[]; members: { id: string; activeMs: number; expiresMs: number }[] }>(membershipState);
    this.offsetMs = Number(state!.now_ms) - (sent + this.clock.now()) / 2;
    this.members = state!.members.map((m) => ({ id: BigInt(m.id), activeMs: Number(m.activeMs), expiresMs: Number(m.expiresMs) }));
    this.selfExpiresMs = this.members.find((m) => m.id === this.selfId)?.expiresMs ?? 0;
    this.view = viewOf(state!.epoch, state!.view);
    if (state!.active.join() !== state!.view.join()) {
      // A member came or went: move the view on (one replica wins; the others find it done).
      try {
        const [moved] = await store.query<{ epoch: string; members: string[] }>(advanceView, [this.lockTimeoutMs()]);
        this.view = viewOf(moved!.epoch, moved!.members);
      } catch (err) {
        // Most likely a fenced transaction held the view longer than the lock timeout.
        this.log.warn({ err: (err as Error).message }, 'could not move the membership view on yet; trying again at the next heartbeat');
      }
    }
    if (++this.beats % 30 === 0) await store.query(reapMembers);
    this.recompute();
    this.resolveReady();
  }

  /** Until the next renewal, or just past the next activation or expiry of another member. */
  private napMs(): number {
    const now = this.clock.now();
    const dbNow = now + this.offsetMs;
    const boundaries = this.members.flatMap((m) => (m.id === this.selfId ? [m.activeMs] : [m.activeMs, m.expiresMs])).filter((t) => t > dbNow);
    const boundary = Math.min(...boundaries) - dbNow + BOUNDARY_MARGIN_MS;
    const renew = this.selfId === undefined ? this.heartbeatMs : this.nextRenewMs - now;
    return Math.max(1, Math.min(this.heartbeatMs, renew, boundary));
  }

  private lockTimeoutMs(): number {
    return Math.min(1_000, Math.max(50, Math.floor(this.heartbeatMs / 2)));
  }

  /** Recomputes this replica's claim; tells subscribers when ownership changed. */
  private recompute(): void {
    const now = this.clock.now() + this.offsetMs;
    const self = this.selfId;
    const live = self !== undefined && now < this.selfExpiresMs && this.view.members.includes(self);
    const claim = live ? this.view : NO_VIEW;
    if (claim.epoch !== this.claim.epoch || self !== this.claimSelf) {
      const ownedBefore = ownerCheck(this.claimSelf, this.claim);
      this.claim = claim;
      this.claimSelf = self;
      this.log.info({ epoch: String(this.view.epoch), members: this.view.members.map(String), self: String(self ?? 'none'), owning: live }, 'ownership changed');
      for (const handler of this.handlers) handler(ownedBefore);
    }
    // Step down by ourselves at our own expiry, should no heartbeat renew it in time.
    this.cancelExpiry?.();
    this.cancelExpiry = live ? this.clock.setTimer(() => this.recompute(), this.selfExpiresMs - now + 1) : undefined;
  }
}

function viewOf(epoch: string, members: readonly string[]): View {
  return { epoch: BigInt(epoch), members: members.map((id) => BigInt(id)) };
}

/** Beat this long after another member's activation or expiry, so the database's clock has passed it too. */
const BOUNDARY_MARGIN_MS = 5;

/** owns() for a given self and claim; nobody owns anything without a claim. */
function ownerCheck(self: bigint | undefined, claim: View): Owns {
  if (self === undefined || !claim.members.includes(self)) return () => false;
  return (controller, key) => rendezvousOwner(claim.members, `${controller}\u0000${key}`) === self;
}
