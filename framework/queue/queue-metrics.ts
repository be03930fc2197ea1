/**
 * What the queue reports, as plain callbacks so the queue does not depend on prom-client;
 * framework/metrics binds them to the workqueue_* metrics of controller-runtime.
 */
export interface QueueMetrics {
  /** A key was added (counted even when deduplicated, like workqueue_adds_total). */
  added(): void;
  /** A key was taken after waiting `waitedMs` ready in the queue. */
  taken(waitedMs: number): void;
  /** A key was done after `workedMs` of processing. */
  finished(workedMs: number): void;
  /** A key was queued again through the rate limiter. */
  retried(): void;
  /** Current ready depth. */
  depth(depth: number): void;
}

/** Metrics that go nowhere. */
export const noQueueMetrics: QueueMetrics = {
  added() {},
  taken() {},
  finished() {},
  retried() {},
  depth() {},
};
