/**
 * The node agent (`tend agent --node NAME`): heartbeats into PostgreSQL, reads the instances
 * placed on its node (LISTEN/NOTIFY for speed, a full read every `pollMs` so a lost notification
 * costs seconds, not correctness), makes the runtime run exactly those, and writes back what
 * really runs. It talks to PostgreSQL only — never to the API server.
 *
 * Each pass first syncs the node's volumes (volume-sync.ts: directories, usage, backups in the
 * background; LISTEN tend_volumes wakes it too), then the instances, so an instance that mounts
 * volumes starts only once they are ready here and gets their directories in its environment.
 */
import type { Logger } from 'pino';
import type { Enqueuer } from '../../framework/queue/index.js';
import { keyOf } from '../../framework/reconcile/index.js';
import { postgresSource } from '../../framework/source/postgres.js';
import type { Store } from '../../framework/store/index.js';
import { sleep } from '../../framework/time/sleep.js';
import { freePort } from './free-port.js';
import { measureMachine } from './machine.js';
import { planAgent, type Assignment, type InstanceTemplate, type Observed } from './plan.js';
import { assignPort, heartbeatAgent, instancesOfNode, reportInstance } from './queries.js';
import type { Runtime } from './runtime/runtime.js';
import { VOLUMES_CHANNEL, volumeNotificationIsFor } from './volume-queries.js';
import { VolumeSyncState, syncVolumes } from './volume-sync.js';
import type { BackupStore } from './volumes/backup-store.js';

export interface NodeAgentOptions {
  readonly node: string;
  readonly store: Store;
  /** Direct PostgreSQL URL for LISTEN. */
  readonly listenUrl: string;
  readonly runtime: Runtime;
  /** How the runtime enforces memory, reported for `tend why`. */
  readonly memoryEnforcement: string;
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
}

/** Runs the agent until `signal` aborts; instances keep running (a restarted agent adopts them). */
export async function runNodeAgent(options: NodeAgentOptions, signal: AbortSignal): Promise<void> {
  const { node, store, runtime, logger } = options;
  const log = logger.child({ node });
  const startedAt = new Date().toISOString();
  const machine = measureMachine(options.stateDir);
  let wake: () => void = () => {};
  let dirty = true;
  const trigger = () => {
    dirty = true;
    wake();
  };

  const heartbeatMs = options.heartbeatMs ?? 5_000;
  const pollMs = options.pollMs ?? 5_000;
  const volumeState = new VolumeSyncState();
  const volumeOptions = {
    node, store, backupStore: options.backupStore, stateDir: options.stateDir, logger: log,
    usageIntervalMs: pollMs, onChange: trigger,
  };
  let waitingLogged = '';

  const beat = async () => {
    await store.query(heartbeatAgent, [node, startedAt, machine.cpu, machine.memory, machine.disk, options.memoryEnforcement]);
  };
  const sync = async () => {
    const volumes = await syncVolumes(volumeOptions, volumeState);
    const rows = await store.query<Row>(instancesOfNode, [node]);
    const assignments: Assignment[] = rows.map((r) => ({
      id: r.id, memory: r.memory, cpu: r.cpu, desired: r.desired, port: r.port, spec: r.spec,
      reported: r.phase === null ? null : { phase: r.phase, ready: r.ready, restarts: r.restarts, lastExit: r.lastExit },
    }));
    const plan = planAgent(assignments, runtime.list(), { volumes: volumes.ready, ...(options.workingDir ? { workingDir: options.workingDir } : {}) });
    const waiting = JSON.stringify(plan.waitingForVolumes);
    if (waiting !== waitingLogged && plan.waitingForVolumes.length > 0) log.info({ instances: plan.waitingForVolumes }, 'instances wait for their volumes');
    waitingLogged = waiting;
    if (plan.needPorts.length > 0) {
      for (const id of plan.needPorts) await store.query(assignPort, [id, await freePort()]);
      dirty = true; // start them on the next pass, with the port now recorded
    }
    for (const action of plan.actions) {
      if (action.op === 'ensure') runtime.ensure(action.spec);
      else {
        log.info({ instance: action.id, why: action.why }, 'stopping instance');
        await runtime.remove(action.id);
        dirty = true;
      }
    }
    for (const { id, observed } of plan.reports) {
      await store.query(reportInstance, [id, node, observed.phase, observed.ready, observed.restarts, JSON.stringify(observed.lastExit)]);
    }
  };

  const unsubscribe = runtime.onChange(trigger);
  signal.addEventListener('abort', () => wake(), { once: true });
  const notifications: Enqueuer = { add: trigger, addAfter: trigger, addRateLimited: trigger };
  postgresSource({
    name: 'agent',
    connectionString: options.listenUrl,
    channel: 'tend_instances',
    map: (payload) => (payload.split(' ')[1] === node ? [keyOf(undefined, node)] : []),
    logger: log,
  }).start(signal, notifications);
  postgresSource({
    name: 'agent-volumes',
    connectionString: options.listenUrl,
    channel: VOLUMES_CHANNEL,
    map: (payload) => (volumeNotificationIsFor(payload, node) ? [keyOf(undefined, node)] : []),
    logger: log,
  }).start(signal, notifications);

  let nextBeat = 0;
  let nextPoll = 0;
  log.info({ capacity: machine, memoryEnforcement: options.memoryEnforcement }, 'node agent started');
  while (!signal.aborted) {
    const now = Date.now();
    try {
      if (now >= nextBeat) {
        await beat();
        nextBeat = now + heartbeatMs;
      }
      if (dirty || now >= nextPoll) {
        dirty = false;
        await sync();
        nextPoll = Date.now() + pollMs;
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'agent pass failed; retrying');
      dirty = true;
      await sleep(Math.min(heartbeatMs, 1_000), signal);
    }
    // An abort during the pass called the previous `wake`: check before waiting again.
    if (dirty || signal.aborted) continue;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, Math.min(nextBeat, nextPoll) - Date.now()));
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  unsubscribe();
  if (volumeState.running.size > 0) log.info({ volumes: [...volumeState.running.keys()] }, 'waiting for volume restores and backups to finish');
  await volumeState.idle();
  log.info('node agent stopped; instances keep running for the next agent to adopt');
}
