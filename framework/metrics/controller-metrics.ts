/**
 * @module
 * Metrics, in a prom-client registry the health server serves at /metrics.
 *
 * - controller-metrics.ts: the controller and work-queue metrics, with controller-runtime's names
 *   and labels so existing dashboards and alerts work unchanged. Every label set is
 *   pre-initialised to 0 when a controller registers (c-r's `initMetrics`), so `rate()` has a
 *   series from the first scrape.
 * - tend-metrics.ts: tend's own beside them (membership, informers' lists, the database pool).
 *
 * ```ts
 * const families = new ControllerMetricFamilies(registry);   // once per registry (the Manager's)
 * new Controller({ name: 'app', informer, reconcile, logger, metrics: families });
 * // controller_runtime_reconcile_total{controller="app",result="success"} 0 from the first scrape
 * ```
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueueMetrics } from '../queue/queue-metrics.js';

/** The results counted by controller_runtime_reconcile_total, as in controller-runtime. */
export const RESULT = {
  success: 'success',
  error: 'error',
  requeue: 'requeue',
  requeueAfter: 'requeue_after',
} as const;
export type ReconcileResultLabel = (typeof RESULT)[keyof typeof RESULT];

/** Why a key was taken from the queue but not reconciled here (tend's own). */
export const SKIP = { notOwner: 'not_owner', gone: 'gone' } as const;
export type SkipReason = (typeof SKIP)[keyof typeof SKIP];

const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Per-controller handle the runtime reports through. */
export interface ControllerMetrics {
  readonly queue: QueueMetrics;
  reconciled(result: ReconcileResultLabel, seconds: number): void;
  failed(terminal: boolean): void;
  skipped(reason: SkipReason): void;
  /** A reconcile whose write the fence refused (its ownership view was stale). */
  fenced(): void;
  activeWorkers(delta: 1 | -1): void;
}

/** Shared metric families of one registry; `forController` binds them to a controller's labels. */
export class ControllerMetricFamilies {
  private readonly reconcileTotal: Counter<'controller' | 'result'>;
  private readonly reconcileErrors: Counter<'controller'>;
  private readonly terminalErrors: Counter<'controller'>;
  private readonly reconcileTime: Histogram<'controller'>;
  private readonly maxConcurrent: Gauge<'controller'>;
  private readonly activeWorkers: Gauge<'controller'>;
  private readonly skippedTotal: Counter<'controller' | 'reason'>;
  private readonly fencedTotal: Counter<'controller'>;
  private readonly depth: Gauge<'controller' | 'name'>;
  private readonly adds: Counter<'controller' | 'name'>;
  private readonly queueDuration: Histogram<'controller' | 'name'>;
  private readonly workDuration: Histogram<'controller' | 'name'>;
  private readonly retries: Counter<'controller' | 'name'>;
  private readonly unfinished = new Map<string, () => { totalMs: number; longestMs: number }>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.reconcileTotal = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'], registers });
    this.reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'], registers });
    this.terminalErrors = new Counter({ name: 'controller_runtime_terminal_reconcile_errors_total', help: 'Total number of terminal reconciliation errors per controller', labelNames: ['controller'], registers });
    this.reconcileTime = new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: ['controller'], buckets: durationBuckets, registers });
    this.maxConcurrent = new Gauge({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller', labelNames: ['controller'], registers });
    this.activeWorkers = new Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', labelNames: ['controller'], registers });
    this.skippedTotal = new Counter({ name: 'tend_reconcile_skipped_total', help: 'Keys taken from the queue but not reconciled by this replica, by reason (not_owner: another replica owns the key; gone: the object no longer exists)', labelNames: ['controller', 'reason'], registers });
    this.fencedTotal = new Counter({ name: 'tend_reconcile_fenced_total', help: 'Reconciles whose PostgreSQL write was refused by the fence: the ownership epoch they carried was no longer current (this replica\'s view was stale)', labelNames: ['controller'], registers });
    this.depth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['controller', 'name'], registers });
    this.adds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['controller', 'name'], registers });
    this.queueDuration = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested', labelNames: ['controller', 'name'], buckets: durationBuckets, registers });
    this.workDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes', labelNames: ['controller', 'name'], buckets: durationBuckets, registers });
    this.retries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['controller', 'name'], registers });
    const unfinished = this.unfinished;
    new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: 'How many seconds of work has been done that is in progress and hasn\'t been observed by work_duration',
      labelNames: ['controller', 'name'],
      registers,
      collect() {
        for (const [name, read] of unfinished) this.set({ controller: name, name }, read().totalMs / 1000);
      },
    });
    new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running',
      labelNames: ['controller', 'name'],
      registers,
      collect() {
        for (const [name, read] of unfinished) this.set({ controller: name, name }, read().longestMs / 1000);
      },
    });
  }

  /** Binds the families to `controller`, pre-initialising every series. */
  forController(
    controller: string,
    concurrency: number,
    inFlight: () => { totalMs: number; longestMs: number },
  ): ControllerMetrics {
    const c = { controller };
    const q = { controller, name: controller };
    for (const result of Object.values(RESULT)) this.reconcileTotal.inc({ ...c, result }, 0);
    for (const reason of Object.values(SKIP)) this.skippedTotal.inc({ ...c, reason }, 0);
    this.reconcileErrors.inc(c, 0);
    this.terminalErrors.inc(c, 0);
    this.fencedTotal.inc(c, 0);
    this.maxConcurrent.set(c, concurrency);
    this.activeWorkers.set(c, 0);
    this.depth.set(q, 0);
    this.adds.inc(q, 0);
    this.retries.inc(q, 0);
    this.unfinished.set(controller, inFlight);
    return {
      queue: {
        added: () => this.adds.inc(q),
        taken: (ms) => this.queueDuration.observe(q, ms / 1000),
        finished: (ms) => this.workDuration.observe(q, ms / 1000),
        retried: () => this.retries.inc(q),
        depth: (depth) => this.depth.set(q, depth),
      },
      reconciled: (result, seconds) => {
        this.reconcileTotal.inc({ ...c, result });
        this.reconcileTime.observe(c, seconds);
      },
      failed: (terminal) => (terminal ? this.terminalErrors : this.reconcileErrors).inc(c),
      skipped: (reason) => this.skippedTotal.inc({ ...c, reason }),
      fenced: () => this.fencedTotal.inc(c),
      activeWorkers: (delta) => this.activeWorkers.inc(c, delta),
    };
  }
}
