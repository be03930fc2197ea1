import type { Logger } from 'pino';
import type { Resource } from '../client/index.js';
import type { Store } from '../store/index.js';
import { systemClock, type Clock } from '../time/clock.js';
import { BaseEventRecorder } from './base-event-recorder.js';
import type { EventType } from './index.js';
import * as q from './postgres-event-queries.js';

export interface PostgresEventRecorderOptions {
  readonly logger: Logger;
  /** Which replica reports. */
  readonly reporter: string;
  /** @default systemClock */
  readonly clock?: Clock;
  /** A repeat within this window bumps the count of the existing row. @default 600_000 */
  readonly aggregateMs?: number;
  /** Events last seen longer ago than this are pruned (Kubernetes' default event TTL). @default 3_600_000 */
  readonly ttlMs?: number;
}

interface Seen {
  count: number;
  last: number;
  /** The row's id once written; a repeat waits for it. */
  readonly id: Promise<string>;
}

const MAX_SEEN = 4_096;
const PRUNE_EVERY_MS = 300_000;

/** Records events in tend.events (standalone mode), deduplicated and rate-limited like KubeEventRecorder. */
export class PostgresEventRecorder extends BaseEventRecorder {
  private readonly seen = new Map<string, Seen>();
  private lastPrune = 0;

  constructor(
    private readonly store: Store,
    private readonly options: PostgresEventRecorderOptions,
  ) {
    super(options.clock ?? systemClock, options.logger);
  }

  protected async write(obj: Resource, uid: string, type: EventType, reason: string, message: string): Promise<void> {
    const now = this.clock.now();
    const key = `${uid}\u0000${type}\u0000${reason}\u0000${message}`;
    const seen = this.seen.get(key);
    if (seen && now - seen.last < (this.options.aggregateMs ?? 600_000)) {
      seen.count++;
      seen.last = now;
      const count = seen.count;
      await this.store.query(q.bumpEvent, [await seen.id, count]);
      return;
    }
    const id = this.store
      .query<{ id: string }>(q.insertEvent, [obj.kind, obj.metadata.namespace ?? '', obj.metadata.name, obj.metadata.uid ?? null, type, reason, message, this.options.reporter])
      .then((rows) => rows[0]!.id);
    this.seen.set(key, { count: 1, last: now, id });
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.keys().next().value!);
    await id;
    if (now - this.lastPrune > PRUNE_EVERY_MS) {
      this.lastPrune = now;
      await this.store.query(q.pruneEvents, [this.options.ttlMs ?? 3_600_000]);
    }
  }
}
