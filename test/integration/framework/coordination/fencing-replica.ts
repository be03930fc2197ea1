/**
 * One replica for fencing.test.ts, as its own process (so the test can SIGSTOP it): membership,
 * an informer of the test's Widgets and one controller, from framework/ alone. Every reconcile
 * reads the Widget, works for `holdMs` — without looking at ctx.signal, as a writer that does not
 * know it is stale — and then makes two writes, each guarded the framework's way:
 * - a row in fencing_writes, fenced by ctx.fence (`tend.fenced`);
 * - status.writes + 1 on the API server, carrying the resourceVersion it read (writeStatus).
 * Each attempt and its outcome is appended as one JSON line to `attemptsFile`.
 *
 * Argument: one JSON object (see `Options`).
 */
import { appendFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ConflictError, KubeClient, type Resource, type ResourceType } from '../../../../framework/client/index.js';
import { isFenced } from '../../../../framework/coordination/fence.js';
import { Membership } from '../../../../framework/coordination/membership.js';
import { createLogger } from '../../../../framework/log/logger.js';
import { requeueAfter, type Reconciler } from '../../../../framework/reconcile/index.js';
import { Controller } from '../../../../framework/runtime/controller.js';
import { Informer } from '../../../../framework/source/informer.js';
import { writeStatus } from '../../../../framework/status/write-status.js';
import { Store, type NamedQuery } from '../../../../framework/store/index.js';
import { sleep } from '../../../../framework/time/sleep.js';

interface Options {
  readonly name: string;
  readonly databaseUrl: string;
  readonly kubeconfigPath: string;
  readonly labelSelector: string;
  readonly attemptsFile: string;
  readonly heartbeatMs: number;
  readonly ttlMs: number;
  readonly joinDelayMs: number;
  readonly holdMs: number;
  readonly requeueMs: number;
}

/** One write attempt, as the test reads it back. */
export interface Attempt {
  readonly replica: string;
  readonly kind: 'sql' | 'api';
  readonly key: string;
  /** tend.members id of this replica when the key was handed out. */
  readonly member: string;
  readonly epoch: string;
  /** Wall-clock ms when the reconcile read the object, and when it sent the write. */
  readonly readAt: number;
  readonly writeAt: number;
  /** The resourceVersion the reconcile read, and (a landed status write) the one it made. */
  readonly resourceVersion: string;
  readonly written?: string;
  readonly outcome: 'landed' | 'refused' | 'failed';
  readonly error?: string;
}

export type Widget = Resource<{ size?: number }, { writes?: number; writer?: string }>;
const widgetType: ResourceType = { group: 'test.tend.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };

const recordWrite: NamedQuery = {
  name: 'test.fencing_write',
  text: `insert into fencing_writes (key, member, epoch, replica) select $1, $2, $3, $4 where tend.fenced($3::bigint) returning id`,
};

const options = JSON.parse(process.argv[2]!) as Options;
const logger = createLogger({ replica: options.name });
const store = new Store({ connectionString: options.databaseUrl, logger, poolSize: 8, applicationName: options.name });
const membership = new Membership({ store, name: options.name, logger, heartbeatMs: options.heartbeatMs, ttlMs: options.ttlMs, joinDelayMs: options.joinDelayMs });
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(options.kubeconfigPath);
const widgets = new KubeClient<Widget>(widgetType, kubeConfig, 'fencing-test', { labelSelector: options.labelSelector });
const informer = new Informer(widgets, { logger });

const record = (attempt: Omit<Attempt, 'replica'>): void => appendFileSync(options.attemptsFile, `${JSON.stringify({ replica: options.name, ...attempt })}\n`);

const reconcile: Reconciler<Widget> = async (ctx, widget) => {
  const handedOut = { key: ctx.key, member: String(membership.id), epoch: String(ctx.fence), readAt: Date.now(), resourceVersion: widget.metadata.resourceVersion! };
  await sleep(options.holdMs);
  let refused: unknown;
  const sqlAt = Date.now();
  try {
    // A row back is a write that landed (a guard that filters instead of raising would return none).
    const landed = (await store.query(recordWrite, [ctx.key, handedOut.member, handedOut.epoch, options.name])).length > 0;
    record({ ...handedOut, kind: 'sql', writeAt: sqlAt, outcome: landed ? 'landed' : 'refused' });
  } catch (err) {
    refused ??= err;
    record({ ...handedOut, kind: 'sql', writeAt: sqlAt, outcome: isFenced(err) ? 'refused' : 'failed', error: (err as Error).message });
  }
  const apiAt = Date.now();
  try {
    const written = await writeStatus(widgets, widget, { writes: (widget.status?.writes ?? 0) + 1, writer: `${options.name}/${handedOut.member}` });
    record({ ...handedOut, kind: 'api', writeAt: apiAt, outcome: 'landed', written: written!.metadata.resourceVersion! });
  } catch (err) {
    refused ??= err;
    record({ ...handedOut, kind: 'api', writeAt: apiAt, outcome: err instanceof ConflictError ? 'refused' : 'failed', error: (err as Error).message });
  }
  if (refused) throw refused; // the runtime looks again: soon after a conflict, after a heartbeat when fenced
  return requeueAfter(options.requeueMs);
};

const controller = new Controller<Widget>({ name: 'fencing', informer, reconcile, logger, ownership: membership, concurrency: 16, drainMs: 5_000 });

const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
const membershipStop = new AbortController();
const informerStop = new AbortController();
const membershipRun = membership.start(membershipStop.signal);
await membership.ready();
informer.start(informerStop.signal);
await controller.start(stop.signal);
membershipStop.abort();
await membershipRun;
informerStop.abort();
await store.close();
