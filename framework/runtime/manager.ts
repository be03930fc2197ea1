/**
 * @module
 * The runtime: what runs reconcilers.
 *
 * Design notes
 * - controller.ts: one switch decides result → queue action → metric, as controller-runtime's
 *   `reconcileHandler`: an error backs off per key (unless terminal), `requeueAfter` forgets the
 *   failures and waits, `done` forgets and waits for the resync period. A key is reconciled only
 *   while this replica owns it; losing it aborts the run's signal.
 * - manager.ts: everything long-running is a Runnable (`start(signal)` resolves once stopped):
 *   informers, controllers, membership, the health server. SIGTERM drains in-flight reconciles.
 *
 * ```ts
 * const manager = new Manager({ logger, replica: 'tend-0', store, healthPort: 8081 });
 * const apps = manager.informer(clients.app);
 * manager.add(new Controller({ name: 'app', informer: apps, reconcile, logger }));
 * await manager.start(signal);
 * ```
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Resource, ResourceClient } from '../client/index.js';
import { Membership, type MembershipOptions } from '../coordination/membership.js';
import { ownsEverything, type Ownership } from '../coordination/ownership.js';
import { startHealthServer, type Checker, type HealthServer } from '../health/index.js';
import { ControllerMetricFamilies } from '../metrics/controller-metrics.js';
import { registerTendMetrics } from '../metrics/tend-metrics.js';
import type { Store } from '../store/index.js';
import { Informer, type InformerOptions } from '../source/informer.js';
import { ReconcileJournal } from '../journal/index.js';
import { holdOpen } from '../time/hold-open.js';

/** Something the manager runs: resolves once `signal` has aborted and it has stopped. */
export interface Runnable {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
}

export interface ManagerOptions {
  readonly logger: Logger;
  /** This replica's name (pod or host name), shown in logs and the member list. */
  readonly replica: string;
  /** The database replicas coordinate through; without it this replica owns every key. */
  readonly store?: Store;
  /** Membership timing; `false` with a store still means "owns everything" (single replica). */
  readonly membership?: Omit<MembershipOptions, 'store' | 'name' | 'logger'> | false;
  /** Port of /healthz, /readyz and /metrics; absent: no health server. */
  readonly healthPort?: number;
  /** @default '127.0.0.1' */
  readonly healthHost?: string;
  /** @default a new Registry with the process's default metrics */
  readonly registry?: Registry;
  /** Told the health server's port once it listens (useful with `healthPort: 0`). */
  readonly onHealthListening?: (port: number) => void;
  /** Write the reconcile journal (tend.reconciles) when there is a store. @default true */
  readonly journal?: boolean;
}

/**
 * Wires one replica: the membership that shares keys, one informer per kind (shared by every
 * controller that reads it), the controllers, and the health server. `start` runs them all until
 * its signal aborts, then stops in order: controllers drain, membership leaves, informers stop.
 */
export class Manager {
  readonly registry: Registry;
  readonly metrics: ControllerMetricFamilies;
  readonly ownership: Ownership;
  /** Where controllers report finished reconciles (`onReconciled`); absent without a store. */
  readonly journal: ReconcileJournal | undefined;
  private readonly membership: Membership | undefined;
  private readonly informers = new Map<string, Informer<Resource>>();
  private readonly runnables: Runnable[] = [];
  private readonly log: Logger;

  constructor(private readonly options: ManagerOptions) {
    this.log = options.logger;
    this.registry = options.registry ?? defaultRegistry();
    this.metrics = new ControllerMetricFamilies(this.registry);
    this.membership =
      options.store && options.membership !== false
        ? new Membership({ store: options.store, name: options.replica, logger: options.logger, ...(options.membership ?? {}) })
        : undefined;
    this.ownership = this.membership ?? ownsEverything;
    this.journal =
      options.store && options.journal !== false ? new ReconcileJournal({ store: options.store, replica: options.replica, logger: options.logger }) : undefined;
    const membership = this.membership;
    const journal = this.journal;
    registerTendMetrics(this.registry, {
      ...(membership
        ? { activeMembers: () => membership.activeMembers().length, selfActive: () => membership.id !== undefined && membership.activeMembers().includes(membership.id) }
        : {}),
      ...(options.store ? { store: options.store } : {}),
      informers: () => [...this.informers.entries()].map(([resource, i]) => ({ resource, lists: i.listCount, expired: i.expiredCount })),
      ...(journal ? { journalDropped: () => journal.dropped } : {}),
    });
  }

  /** The shared informer of `client`'s kind, made on first use. */
  informer<T extends Resource>(client: ResourceClient<T>, options: Omit<InformerOptions<T>, 'logger'> = {}): Informer<T> {
    const name = `${client.type.group}/${client.type.plural}`;
    const existing = this.informers.get(name) as unknown as Informer<T> | undefined;
    if (!existing) {
      const informer = new Informer(client, { logger: this.log, ...options });
      this.informers.set(name, informer as unknown as Informer<Resource>);
      return informer;
    }
    // Several controllers share one informer; each brings the indexes it needs.
    for (const [index, fn] of Object.entries(options.indexers ?? {})) existing.cache.addIndexer(index, fn);
    return existing;
  }

  /** Adds a controller (or any Runnable) to start with the manager. */
  add(runnable: Runnable): void {
    this.runnables.push(runnable);
  }

  /** Runs everything until `signal` aborts; resolves after an orderly stop. */
  async start(signal: AbortSignal): Promise<void> {
    const { store } = this.options;
    // Every controller, source and worker listens for the stop: many listeners are expected.
    setMaxListeners(0, signal);
    // Alive until stopped, even while every socket is down (PostgreSQL outage) and only retry timers wait.
    holdOpen(signal);
    const health = await this.startHealth();
    if (health) this.options.onHealthListening?.(health.port);
    const membershipStop = new AbortController();
    const informerStop = new AbortController();
    const membershipRun = this.membership?.start(membershipStop.signal);
    if (this.membership) await Promise.race([this.membership.ready(), aborted(signal)]);
    for (const informer of this.informers.values()) informer.start(informerStop.signal);
    this.log.info({ replica: this.options.replica, member: String(this.membership?.id ?? 'none'), controllers: this.runnables.map((r) => r.name) }, 'manager started');
    await Promise.all(this.runnables.map((r) => r.start(signal)));
    // Controllers have drained: write the last journal entries, give our keys up, then stop watching.
    await this.journal?.flush();
    membershipStop.abort();
    await membershipRun;
    informerStop.abort();
    await health?.close();
    if (store) this.log.info('manager stopped; closing the database pool');
    await store?.close();
  }

  /** Ready when every informer has synced and (with a store) the database answers. */
  private async startHealth(): Promise<HealthServer | undefined> {
    if (this.options.healthPort === undefined) return undefined;
    const store = this.options.store;
    const readiness: Checker[] = [
      {
        name: 'informers-synced',
        check: async () => {
          const waiting = [...this.informers.entries()].filter(([, i]) => !i.hasSynced).map(([n]) => n);
          if (waiting.length > 0) throw new Error(`not synced: ${waiting.join(', ')}`);
        },
      },
      // PostgreSQL's errors name users, hosts and databases: logged, not served to the network.
      ...(store ? [{ name: 'database', check: () => store.ping(), withholdReason: true }] : []),
    ];
    return startHealthServer({
      port: this.options.healthPort,
      host: this.options.healthHost ?? '127.0.0.1',
      liveness: [{ name: 'ping', check: async () => {} }],
      readiness,
      metrics: this.registry,
      logger: this.log,
    });
  }
}

function defaultRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}
