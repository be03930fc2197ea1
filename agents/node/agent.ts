/**
 * The node agent (`tend agent --node NAME`): heartbeats into PostgreSQL, reads the instances
 * placed on its node (LISTEN/NOTIFY for speed, a full read every `pollMs` so a lost notification
 * costs seconds, not correctness), makes the runtime run exactly those, and writes back what
 * really runs. It talks to PostgreSQL only — never to the API server.
 *
 * What the instances print is shipped into PostgreSQL alongside (log-shipping.ts), resumed before
 * the first pass so a restarted agent goes on where the last one stopped.
 *
 * Each pass first syncs the node's volumes (volumes/volume-sync.ts: directories, usage, backups in the
 * background; LISTEN tend_volumes wakes it too), then the instances, so an instance that mounts
 * volumes starts only once they are ready here and gets their directories in its environment.
 */
import type { Logger } from 'pino';
import type { InstanceTemplate } from '../../api/types/instance.js';
import { type Clock, type Enqueuer, keyOf, postgresSource, PostgresListener, sleep, type Store, systemClock } from '../../framework/index.js';
import { freePort } from './free-port.js';
import { resumeLogs, shipLogs, type LogShippingOptions } from './log-shipping.js';
import { nodeSealingKey, openSealedEnv } from './sealed-env.js';
import { startHeartbeatThread } from './heartbeat-thread.js';
import { measureMachine } from './machine.js';
import { planAgent, type Assignment, type Observed, type Refusal } from './plan.js';
import { assignPorts, heartbeatAgent, instancesOfNode, reportInstances } from './agent-queries.js';
import { InvalidInstanceSpecError } from './runtime/instance-spec.js';
import type { Runtime } from './runtime/runtime.js';
import { VOLUMES_CHANNEL, volumeNotificationIsFor } from './volumes/volume-queries.js';
import { VolumeSyncState, syncVolumes } from './volumes/volume-sync.js';
import type { BackupStore } from './volumes/backup-store.js';

export interface NodeAgentOptions {
  readonly node: string;
  readonly store: Store;
  /** Direct PostgreSQL URL for LISTEN. */
  readonly listenUrl: string;
  readonly runtime: Runtime;
  /** How the runtime enforces memory, reported for `tend why`. */
  readonly memoryEnforcement: string;
  /** Whether the runtime sandboxes instances, and why (not): the Node's Isolated condition. @default not sandboxed */
  readonly isolation?: { readonly sandboxed: boolean; readonly reason: string };
  /** Also holds the volumes: `<stateDir>/volumes/<namespace>/<name>`. */
  readonly stateDir: string;
  /** Where volume backups go (and restores come from). */
  readonly backupStore: BackupStore;
  readonly logger: Logger;
  /** @default 5_000 */
  readonly heartbeatMs?: number;
  /** Full read of the node's instances and volumes at least this often; also how often volume usage is measured. @default 5_000 */
  readonly pollMs?: number;
  /** Working directory of instances. @default the agent's */
  readonly workingDir?: string;
  /** How instance logs are shipped to PostgreSQL (log-shipping.ts). */
  readonly logShipping?: Pick<LogShippingOptions, 'flushMs' | 'keepBytes' | 'pruneMs'>;
  /**
   * Every wait and timestamp of the agent's loop, its log shipping and its volume sync. The
   * heartbeat runs in a thread of its own on the real clock (heartbeat-thread.ts). @default systemClock
   */
  readonly clock?: Clock;
}

interface Row {
  id: string;
  memory: number;
  cpu: number;
  desired: 'running' | 'stopped';
  port: number | null;
  spec: InstanceTemplate;
  phase: string | null;
  ready: boolean;
  restarts: number;
  lastExit: Observed['lastExit'];
  reason: string | null;
  message: string | null;
  sealedEnv: string | null;
}

/** A pass starts at most this often, however fast notifications and status changes come. */
const MIN_SYNC_INTERVAL_MS = 500;
/** An instance the runtime threw on is tried again after this long (the error may have been passing). */
const RETRY_FAILED_MS = 60_000;

/** Runs the agent until `signal` aborts; instances keep running (a restarted agent adopts them). */
export async function runNodeAgent(options: NodeAgentOptions, signal: AbortSignal): Promise<void> {
  const { node, store, runtime, logger } = options;
  const clock = options.clock ?? systemClock;
  const log = logger.child({ node });
  const startedAt = new Date(clock.now()).toISOString();
  const machine = measureMachine(options.stateDir);
  const sealingKey = nodeSealingKey(options.stateDir);
  let wake: () => void = () => {};
  let dirty = true;
  const trigger = () => {
    dirty = true;
    wake();
  };

  const isolation = options.isolation ?? { sandboxed: false, reason: 'the runtime did not say it sandboxes instances' };
  const heartbeatMs = options.heartbeatMs ?? 5_000;
  const pollMs = options.pollMs ?? 5_000;
  const volumeState = new VolumeSyncState();
  const volumeOptions = {
    node, store, backupStore: options.backupStore, stateDir: options.stateDir, logger: log,
    usageIntervalMs: pollMs, pruneIntervalMs: pollMs, onChange: trigger, now: () => new Date(clock.now()),
  };
  let waitingLogged = '';
  /** Instances the runtime threw on: reported failed, tried again after RETRY_FAILED_MS. */
  const failures = new Map<string, { refusal: Refusal; at: number }>();
  /** Stops in progress: a pass never waits for an instance's grace period. */
  const removing = new Map<string, Promise<void>>();

  const fail = (id: string, err: unknown, what: string) => {
    const refusal: Refusal = { reason: err instanceof InvalidInstanceSpecError ? 'InvalidSpec' : 'RuntimeError', message: `${what}: ${(err as Error).message}` };
    log.warn({ instance: id, reason: refusal.reason, err: (err as Error).message }, `instance failed: ${what}`);
    failures.set(id, { refusal, at: clock.now() });
    dirty = true; // reported on the next pass
  };

  const sync = async () => {
    const volumes = await syncVolumes(volumeOptions, volumeState);
    // Secrets' values are opened here, just before planning; what does not open is refused below.
    const { rows, refused } = openSealedEnv(await store.query<Row>(instancesOfNode, [node]), sealingKey);
    const assignments: Assignment[] = rows.map((r) => ({
      id: r.id, memory: r.memory, cpu: r.cpu, desired: r.desired, port: r.port, spec: r.spec,
      reported: r.phase === null ? null : {
        phase: r.phase, ready: r.ready, restarts: r.restarts, lastExit: r.lastExit,
        ...(r.reason !== null ? { failure: { reason: r.reason as Refusal['reason'], message: r.message ?? '' } } : {}),
      },
    }));
    const assigned = new Set(rows.map((r) => r.id));
    const now = clock.now();
    for (const [id, f] of failures) if (!assigned.has(id) || now - f.at > RETRY_FAILED_MS) failures.delete(id);
    for (const [id, refusal] of refused) failures.set(id, { refusal, at: now });
    const plan = planAgent(assignments, runtime.list(), {
      volumes: volumes.ready,
      failures: new Map([...failures].map(([id, f]) => [id, f.refusal])),
      ...(options.workingDir ? { workingDir: options.workingDir } : {}),
    });
    const waiting = JSON.stringify(plan.waitingForVolumes);
    if (waiting !== waitingLogged && plan.waitingForVolumes.length > 0) log.info({ instances: plan.waitingForVolumes }, 'instances wait for their volumes');
    waitingLogged = waiting;
    if (plan.needPorts.length > 0) {
      const ports = await Promise.all(plan.needPorts.map(async (id) => ({ id, port: await freePort() })));
      await store.query(assignPorts, [node, JSON.stringify(ports)]);
      dirty = true; // start them on the next pass, with the port now recorded
    }
    if (plan.deferred > 0) dirty = true; // the next pass starts the next few
    // Each instance on its own: one that throws is reported failed, the others carry on.
    for (const action of plan.actions) {
      if (action.op === 'ensure') {
        try {
          runtime.ensure(action.spec);
        } catch (err) {
          fail(action.spec.id, err, 'the runtime could not start it');
        }
      } else if (!removing.has(action.id)) {
        log.info({ instance: action.id, why: action.why }, 'stopping instance');
        const removal = runtime
          .remove(action.id)
          .catch((err: unknown) => log.warn({ instance: action.id, err: (err as Error).message }, 'stopping instance failed; trying again'))
          .finally(() => {
            removing.delete(action.id);
            trigger();
          });
        removing.set(action.id, removal);
      }
    }
    const reasons = new Map(rows.map((r) => [r.id, r.reason]));
    for (const { id, observed } of plan.reports) {
      if (observed.failure && observed.failure.reason !== reasons.get(id)) {
        log.warn({ instance: id, reason: observed.failure.reason, message: observed.failure.message }, 'instance refused: not started');
      }
    }
    if (plan.reports.length > 0) await store.query(reportInstances, [node, JSON.stringify(plan.reports.map(reportRow))]);
  };

  const unsubscribe = runtime.onChange(trigger);
  signal.addEventListener('abort', () => wake(), { once: true });
  const notifications: Enqueuer = { add: trigger, addAfter: trigger, addRateLimited: trigger };
  // One LISTEN connection for both channels: every connection counts against max_connections.
  const listener = new PostgresListener({ connectionString: options.listenUrl, logger: log, applicationName: `tend agent ${node} listen` });
  postgresSource({
    name: 'agent',
    listener,
    channel: 'tend_instances',
    map: (payload) => (payload.split(' ')[1] === node ? [keyOf(undefined, node)] : []),
    logger: log,
  }).start(signal, notifications);
  postgresSource({
    name: 'agent-volumes',
    listener,
    channel: VOLUMES_CHANNEL,
    map: (payload) => (volumeNotificationIsFor(payload, node) ? [keyOf(undefined, node)] : []),
    logger: log,
  }).start(signal, notifications);

  // Heartbeats on a thread of their own: a pass that spawns many instances blocks this loop for
  // seconds, and must never make the node look lost (heartbeat-thread.ts).
  const heartbeat = startHeartbeatThread({
    connectionString: options.listenUrl,
    applicationName: `tend agent ${node} heartbeat`,
    query: heartbeatAgent,
    // Every beat also carries the public half of the node's sealing key: a re-created row has it at once.
    values: [node, startedAt, machine.cpu, machine.memory, machine.disk, options.memoryEnforcement, isolation.sandboxed, isolation.reason, sealingKey.publicKey],
    intervalMs: heartbeatMs,
    logger: log,
  });
  // Tells the heartbeat thread this loop is not stalled, every second until the agent stops.
  let stopAlive = () => {};
  const beatAlive = () => {
    heartbeat.alive();
    stopAlive = clock.setTimer(beatAlive, 1_000);
  };
  stopAlive = clock.setTimer(beatAlive, 1_000);

  // Before the first pass: a start of an instance must find its log's reading resumed.
  const shipping = { node, store, logs: runtime.logs, logger: log, clock, ...options.logShipping };
  await resumeLogs(shipping, signal);
  const shipped = shipLogs(shipping, signal);

  let nextPoll = 0;
  let lastPass = -Infinity;
  log.info({ capacity: machine, memoryEnforcement: options.memoryEnforcement }, 'node agent started');
  while (!signal.aborted) {
    // Coalesce: a storm of notifications and status changes makes one pass per MIN_SYNC_INTERVAL_MS.
    const earliest = lastPass + MIN_SYNC_INTERVAL_MS;
    if (clock.now() < earliest) await sleep(earliest - clock.now(), signal, clock);
    if (signal.aborted) break;
    if (dirty || clock.now() >= nextPoll) {
      dirty = false;
      lastPass = clock.now();
      try {
        await sync();
        nextPoll = clock.now() + pollMs;
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'agent pass failed; retrying');
        dirty = true;
        await sleep(Math.min(heartbeatMs, 1_000), signal, clock);
      }
    }
    // An abort or a trigger during the pass called the previous `wake`: check before waiting again.
    if (dirty || signal.aborted) continue;
    await new Promise<void>((resolve) => {
      const cancel = clock.setTimer(resolve, Math.max(0, nextPoll - clock.now()));
      wake = () => {
        cancel();
        resolve();
      };
    });
  }
  stopAlive();
  await heartbeat.stop();
  await shipped;
  await Promise.all(removing.values());
  unsubscribe();
  if (volumeState.running.size > 0) log.info({ volumes: [...volumeState.running.keys()] }, 'waiting for volume restores and backups to finish');
  await volumeState.idle();
  log.info('node agent stopped; instances keep running for the next agent to adopt');
}

/** One element of reportInstances' recordset; absent keys are SQL NULL (a JSON null in a jsonb column would not be). */
function reportRow({ id, observed }: { id: string; observed: Observed }): Record<string, unknown> {
  return {
    id,
    phase: observed.phase,
    ready: observed.ready,
    restarts: observed.restarts,
    ...(observed.lastExit ? { last_exit: observed.lastExit } : {}),
    ...(observed.failure ? { reason: observed.failure.reason, message: observed.failure.message } : {}),
  };
}
