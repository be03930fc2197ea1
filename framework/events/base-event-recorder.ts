import type { Logger } from 'pino';
import type { Resource } from '../client/index.js';
import type { Clock } from '../time/clock.js';
import type { EventRecorder, EventType } from './index.js';
import { SpamFilter } from './spam-filter.js';

/**
 * What every recorder does the same way: drop floods per object (client-go's spam filter), write
 * in the background, never throw into a reconcile (a failed write is logged), and let shutdown
 * and tests wait for what is in flight. Subclasses say how one event is written.
 */
export abstract class BaseEventRecorder implements EventRecorder {
  private readonly spam: SpamFilter;
  private readonly pending = new Set<Promise<void>>();

  protected constructor(
    protected readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.spam = new SpamFilter(clock);
  }

  record(obj: Resource, type: EventType, reason: string, message: string): void {
    const uid = obj.metadata.uid ?? `${obj.kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    if (!this.spam.allow(uid)) return;
    const writing = this.write(obj, uid, type, reason, message).catch((err: Error) =>
      this.logger.warn({ err: err.message, reason, object: `${obj.kind}/${obj.metadata.name}` }, 'could not record event'),
    );
    this.pending.add(writing);
    void writing.finally(() => this.pending.delete(writing));
  }

  /** Resolves when every event recorded so far has been written (or failed). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  /** Writes one event (a repeat within the aggregation window bumps its count). */
  protected abstract write(obj: Resource, uid: string, type: EventType, reason: string, message: string): Promise<void>;
}
