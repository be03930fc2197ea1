/**
 * How the edge processes running now find each other and divide rate limits: each has a row in
 * `platform.edge_members`, renewed every heartbeat (default 1 s) with what its clients asked of
 * each rate-limited Route over the period, and live until three periods pass without a renewal
 * (by the database's clock). At every heartbeat a process reads the others' rows — one statement
 * — and sets its share of every limit (`limit-shares.ts`) on its buckets (`route-limiter.ts`).
 * Requests never wait for the database.
 *
 * So a process that starts counts at its first heartbeat (it joins before it serves, so it knows
 * the others from its first request; they learn of it within one period), one that stops
 * gracefully deletes its row (the others take its share within a period), and one killed stops
 * counting once its row expires: within three periods and one more, the others admit the whole
 * limit again. Until then they admit less than the limit, never more.
 *
 * While PostgreSQL cannot be read the shares in force stay: the others keep theirs too, so the
 * total holds. A process that has never read the members (started from its snapshot during an
 * outage) admits the whole limit by itself, and says so.
 *
 * Not the framework's `Membership`: that one shares the controllers' keys, its view fences their
 * writes, and an edge's login must not be able to join it; an edge needs neither ownership nor an
 * epoch, only the live members and their demand.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { type Queryable, sleep } from '../../framework/index.js';
import { shareOf } from './limit-shares.js';
import { heartbeatEdgeMember, joinEdgeMembers, leaveEdgeMembers, reapEdgeMembers } from './edge-queries.js';
import type { RouteLimiter } from './route-limiter.js';
import type { RoutingTable } from './routing-table.js';

/**
 * At most this many Routes in a member's published demand, the busiest: a row stays small (and
 * the heartbeat cheap) whatever the table holds. A Route left out counts as 0 there.
 */
export const MAX_PUBLISHED_ROUTES = 2_000;

export interface EdgeMembershipOptions {
  readonly store: Queryable;
  readonly limiter: RouteLimiter;
  /** The routing table in force: its rate-limited Routes get shares. */
  readonly table: () => RoutingTable;
  readonly logger: Logger;
  /** For people, in the row: `host pid` by default. */
  readonly name?: string;
  /** How often the row is renewed and the others read. @default 1_000 */
  readonly heartbeatMs?: number;
  /** Called after every heartbeat with the live members counted (this one included). */
  readonly onMembers?: (members: number) => void;
}

/** This process's row among the edge processes, kept while `run` runs. */
export class EdgeMembership {
  private id: string | undefined;
  private memberCount = 0;
  private lastBeat = 0;
  private failing = false;
  private beats = 0;
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private readonly log: Logger;
  private resolveSettled!: () => void;
  private readonly tried = new Promise<void>((resolve) => (this.resolveSettled = resolve));

  constructor(private readonly options: EdgeMembershipOptions) {
    this.heartbeatMs = options.heartbeatMs ?? 1_000;
    if (!Number.isInteger(this.heartbeatMs) || this.heartbeatMs < 10) {
      throw new TypeError(`edge membership: heartbeatMs must be a whole number of milliseconds, at least 10, got ${String(options.heartbeatMs)}`);
    }
    this.ttlMs = 3 * this.heartbeatMs;
    this.log = options.logger.child({ component: 'edge-membership' });
  }

  /** Resolves after the first heartbeat, whether it worked or not (never, if `run` stops first). */
  settled(): Promise<void> {
    return this.tried;
  }

  /** Live edge processes at the last heartbeat, this one included (0 before the first). */
  get members(): number {
    return this.memberCount;
  }

  /** Joins, heartbeats until `signal` aborts, then leaves. Never throws: failures are retried. */
  async run(signal: AbortSignal): Promise<void> {
    this.lastBeat = performance.now();
    while (!signal.aborted) {
      try {
        await this.beat();
        if (this.failing) this.log.warn({ members: this.memberCount }, 'edge membership heartbeat works again');
        this.failing = false;
      } catch (err) {
        if (signal.aborted) break;
        // Logged once per outage; the shares in force stay (the others keep theirs too).
        if (!this.failing) this.log.warn({ err: (err as Error).message }, 'edge membership heartbeat failed; keeping the rate limit shares in force and retrying');
        this.failing = true;
      }
      this.resolveSettled();
      await sleep(this.heartbeatMs, signal);
    }
    if (this.id !== undefined) {
      const id = this.id;
      this.id = undefined;
      try {
        await this.options.store.query(leaveEdgeMembers, [id]);
        this.log.info({ member: id }, 'left the edge members');
      } catch (err) {
        this.log.warn({ err: (err as Error).message, member: id }, 'could not leave the edge members; the row will expire');
      }
    }
  }

  private async beat(): Promise<void> {
    const { store, limiter } = this.options;
    const now = performance.now();
    const demand = limiter.takeDemand(now - this.lastBeat);
    this.lastBeat = now;
    const published = JSON.stringify(publishable(demand));
    let others: Record<string, unknown>[] | undefined;
    if (this.id !== undefined) {
      const [row] = await store.query<{ renewed: boolean; others: Record<string, unknown>[] }>(heartbeatEdgeMember, [this.id, this.ttlMs, published]);
      if (row?.renewed) others = row.others;
      else {
        // Paused or cut off past its expiry: the others count it out already. Join anew.
        this.log.warn({ member: this.id }, 'edge membership expired; joining again');
        this.id = undefined;
      }
    }
    if (this.id === undefined) {
      const [joined] = await store.query<{ id: string }>(joinEdgeMembers, [this.options.name ?? `${hostname()} ${process.pid}`, this.ttlMs, published]);
      this.id = joined!.id;
      const [row] = await store.query<{ renewed: boolean; others: Record<string, unknown>[] }>(heartbeatEdgeMember, [this.id, this.ttlMs, published]);
      others = row!.others;
      this.log.info({ member: this.id, others: others.length }, 'joined the edge members');
    }
    this.apply(demand, others!);
    if (++this.beats % 60 === 0) await store.query(reapEdgeMembers);
  }

  /** Sets this process's share of every rate-limited Route of the table in force. */
  private apply(demand: ReadonlyMap<string, number>, others: readonly Record<string, unknown>[]): void {
    const members = 1 + others.length;
    const fractions = new Map<string, number>();
    const theirs: number[] = new Array<number>(others.length);
    for (const entry of this.options.table().entries) {
      const limit = entry.rateLimit;
      if (!limit || fractions.has(entry.route)) continue;
      for (let i = 0; i < others.length; i++) {
        const d = others[i]![entry.route];
        theirs[i] = typeof d === 'number' && Number.isFinite(d) && d > 0 ? d : 0;
      }
      fractions.set(entry.route, shareOf(limit.requestsPerSecond, demand.get(entry.route) ?? 0, theirs) / limit.requestsPerSecond);
    }
    this.options.limiter.setShares(fractions, 1 / members);
    if (members !== this.memberCount) this.log.info({ members, previous: this.memberCount }, 'edge members changed; rate limit shares follow');
    this.memberCount = members;
    this.options.onMembers?.(members);
  }
}

/** The busiest Routes' demand, rounded to 0.1 request per second, as the row stores it. */
function publishable(demand: ReadonlyMap<string, number>): Record<string, number> {
  let entries = [...demand];
  if (entries.length > MAX_PUBLISHED_ROUTES) entries = entries.sort((a, b) => b[1] - a[1]).slice(0, MAX_PUBLISHED_ROUTES);
  const out: Record<string, number> = {};
  for (const [route, rps] of entries) out[route] = Math.round(rps * 10) / 10;
  return out;
}
