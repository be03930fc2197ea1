import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import { sleep } from '../time/sleep.js';
import { pruneResourceEvents } from './postgres-client.js';

export interface ResourceEventPrunerOptions {
  readonly store: Store;
  readonly logger: Logger;
  /** Events older than this go; a watch resuming from before them lists again (410 Gone). @default 3_600_000 */
  readonly olderThanMs?: number;
  /** How often to prune. @default 300_000 */
  readonly everyMs?: number;
}

/**
 * Keeps tend.resource_events (the PostgreSQL backend's watch log, one row per write) from growing
 * forever, as etcd compaction does for the API server. Every replica may run one: pruning is
 * idempotent. A Manager runnable: `manager.add(resourceEventPruner({ store, logger }))`.
 */
export function resourceEventPruner(options: ResourceEventPrunerOptions): { readonly name: string; start(signal: AbortSignal): Promise<void> } {
  return {
    name: 'resource-event-pruner',
    async start(signal: AbortSignal): Promise<void> {
      while (!signal.aborted) {
        try {
          const pruned = await pruneResourceEvents(options.store, options.olderThanMs ?? 3_600_000);
          if (pruned > 0) options.logger.debug({ pruned }, 'pruned resource events');
        } catch (err) {
          options.logger.warn({ err: (err as Error).message }, 'could not prune resource events; trying again later');
        }
        await sleep(options.everyMs ?? 300_000, signal);
      }
    },
  };
}
