/**
 * @module
 * tend's operator framework: reconcile loops for any Kubernetes-style resource, run by any
 * number of identical replicas with no leader — they share the keys through PostgreSQL
 * (docs/coordination.md). This file is the one way in (`@tend-dev/tend/framework`; test helpers are in
 * `@tend-dev/tend/framework/testing`): tend's own platform imports nothing else of the framework, and the
 * framework imports nothing of the platform (.dependency-cruiser.cjs, checked in `npm test`).
 *
 * ```ts
 * import { KubeConfig } from '@kubernetes/client-node';
 * import {
 *   Controller, KubeClient, Manager, Store, createLogger, done, frameworkMigrations,
 *   migrate, requeueAfter, setCondition, writeStatus, type Condition, type Reconciler, type Resource,
 * } from '@tend-dev/tend/framework';   // the whole story: docs/writing-a-controller.md, examples/custom-controller.ts
 *
 * type Widget = Resource<{ size: number }, { conditions?: Condition[]; observedGeneration?: number }>;
 *
 * const logger = createLogger({ replica: 'widgets-1' });
 * const kubeConfig = new KubeConfig();
 * kubeConfig.loadFromDefault();
 * const store = new Store({ connectionString: process.env.DATABASE_URL!, logger });
 * await migrate(store, frameworkMigrations);
 *
 * const widgets = new KubeClient<Widget>({ group: 'example.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true }, kubeConfig);
 * const manager = new Manager({ logger, replica: 'widgets-1', store, healthPort: 8081 });
 *
 * const reconcile: Reconciler<Widget> = async (ctx, widget) => {
 *   const generation = widget.metadata.generation;
 *   const { conditions } = setCondition(widget.status?.conditions, { type: 'Ready', status: 'True', reason: 'Sized', message: '' }, { now: ctx.now(), generation });
 *   await writeStatus(widgets, widget, { conditions, observedGeneration: generation });   // writes only if it differs
 *   return widget.spec!.size > 10 ? requeueAfter(30_000) : done();
 * };
 *
 * manager.add(new Controller({ name: 'widget', informer: manager.informer(widgets), reconcile, logger,
 *   ownership: manager.ownership, metrics: manager.metrics }));
 * const stop = new AbortController();
 * process.on('SIGTERM', () => stop.abort());
 * await manager.start(stop.signal);   // drains, leaves the member list, closes the pool
 * ```
 */
export {
  ApiError, ConflictError, GoneError, NotFoundError, KubeClient, PostgresClient, apiError, isAbort, keyOfObject, poolConnections, pruneResourceEvents,
  resourceEventPruner, toApiError,
  type ObjectMeta, type PostgresClientOptions, type Resource, type ResourceClient, type ResourceEventPrunerOptions, type ResourceType, type WatchEvent,
} from './client/index.js';
export { conditionsEqual, findCondition, isTrue, readySummary, removeCondition, setCondition, type Condition, type ConditionUpdate } from './conditions/index.js';
export { FENCED_SQLSTATE, fencedTx, isFenced } from './coordination/fence.js';
export { Membership, type MembershipOptions } from './coordination/membership.js';
export { ownsEverything, type Ownership } from './coordination/ownership.js';
export { hash32, rendezvousOwner } from './coordination/rendezvous.js';
export {
  KubeEventRecorder, PostgresEventRecorder, eventsFor, noEvents,
  type EventRecorder, type EventRow, type EventType, type KubeEventRecorderOptions, type PostgresEventRecorderOptions,
} from './events/index.js';
export { withFinalizer, type FinalizerSteps } from './finalizers/with-finalizer.js';
export { runCheckers, startHealthServer, type Checker, type CheckResult, type HealthServer, type HealthServerOptions } from './health/index.js';
export { ReconcileJournal, entriesAfter, entriesFor, latestEntries, type JournalRow, type ReconcileJournalOptions } from './journal/index.js';
export { createLogger, type Logger, type LoggerOptions } from './log/logger.js';
export { ControllerMetricFamilies } from './metrics/controller-metrics.js';
export { ExponentialRateLimiter, MemoryQueue, type Enqueuer, type ExponentialRateLimiterOptions, type MemoryQueueOptions, type RateLimiter, type WorkQueue } from './queue/index.js';
export { TerminalError, done, keyOf, parseKey, requeueAfter, type Key, type ReconcileContext, type Reconciler, type Result } from './reconcile/index.js';
export { Controller, type ControllerOptions, type ReconcileRecord } from './runtime/controller.js';
export { Manager, type ManagerOptions, type Runnable } from './runtime/manager.js';
export {
  Cache, Informer, byNamespace, byOwner, forKind, specOrMetadataChanged, watches,
  type Change, type IndexFn, type InformerOptions, type MapFn, type Predicate, type Source,
} from './source/index.js';
export { postgresSource, type PostgresSourceOptions } from './source/postgres.js';
export { PostgresListener, type ChannelSubscriber, type PostgresListenerOptions } from './source/postgres-listener.js';
export { writeStatus } from './status/write-status.js';
export { deepEqual, mergePatchOf } from './status/merge-patch.js';
export {
  MAX_POOL_SIZE, MigrationError, NoAcceptableHostError, PoolExhaustedError, QueryError, SESSION_CHECK_SQL, Store, connectClient, describeHosts,
  frameworkMigrations, frameworkMigrationsFolder, generatePassword, hostName, migrate, parseDatabaseUrl, passesWithTime, scramSha256Verifier,
  untilDatabaseAnswers, withLogin, type UntilDatabaseAnswersOptions,
  type AppliedMigration, type DatabaseTarget, type MigrateOptions, type MigrationTrack, type NamedQuery, type Queryable, type StoreOptions, type Tx,
} from './store/index.js';
export { backoffDelay, type BackoffPolicy } from './time/backoff.js';
export { systemClock, type Clock } from './time/clock.js';
export { holdOpen } from './time/hold-open.js';
export { rfc3339Seconds } from './time/rfc3339.js';
export { sleep } from './time/sleep.js';
