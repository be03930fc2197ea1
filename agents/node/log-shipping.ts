/**
 * Ships what the instances print into PostgreSQL (platform.instance_logs), where `tend logs` and
 * `tend why` read it: every `flushMs` the runtime's new lines of every instance go in one
 * statement, and every `pruneMs` each instance that got some is cut back to its two newest runs,
 * `keepBytes` each. Nodes never serve logs themselves (no port, no credentials to check on the
 * host); the node's login may write only its own instances' output (row-level security).
 *
 * Nothing is lost when the database is away: the runtime hands the same chunks out until they are
 * stored, and its log files are the buffer behind them (instance-logs.ts). A restarted agent
 * resumes each instance from its newest stored chunk.
 */
import type { Logger } from 'pino';
import { type Clock, sleep, type Store, systemClock } from '../../framework/index.js';
import { insertLogChunks, logPositions, pruneLogs } from './log-queries.js';
import type { InstanceLogSource, LogChunk, LogPosition } from './runtime/runtime.js';

export interface LogShippingOptions {
  readonly node: string;
  readonly store: Store;
  readonly logs: InstanceLogSource;
  readonly logger: Logger;
  /** How often new lines are shipped: the delay `tend logs -f` sees at most, plus its own poll. @default 500 */
  readonly flushMs?: number;
  /** What is kept of each of an instance's two newest runs (the newest lines). @default 256 KiB */
  readonly keepBytes?: number;
  /** How often what is over `keepBytes` is deleted. @default 10_000 */
  readonly pruneMs?: number;
  /** Its waits and flush times. @default systemClock */
  readonly clock?: Clock;
}

/** Per pass: new bytes read of one instance, and bytes shipped in all. A chattier instance falls behind, not the others. */
export const SHIP_LIMITS = { perInstanceBytes: 32 * 1024, totalBytes: 512 * 1024 } as const;
export const DEFAULT_LOG_KEEP_BYTES = 256 * 1024;
/**
 * Every 500 ms: a new line reaches `tend logs -f` within about 0.75 s. Each pass is a row per
 * instance that printed, and each row costs ~380 bytes of WAL beyond its text: at 100 instances
 * printing 10 lines/s, 250 ms gave 2.5 WAL bytes per byte printed, 500 ms 1.7, 1 s 1.4 (bench:logs).
 */
export const DEFAULT_LOG_SHIP_MS = 500;

/** Tells the runtime where storage got to for each instance of this node, trying until the database answers. */
export async function resumeLogs(options: LogShippingOptions, signal: AbortSignal): Promise<void> {
  const { store, node, logs, logger } = options;
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      const rows = await store.query<{ instance: string; run: Date; offset: number }>(logPositions, [node]);
      logs.resume(new Map<string, LogPosition>(rows.map((r) => [r.instance, { run: r.run.toISOString(), offset: r.offset }])));
      return;
    } catch (err) {
      if (attempt === 1) logger.warn({ err: (err as Error).message }, 'cannot read where instance logs were shipped to; retrying');
      await sleep(1_000, signal, options.clock);
    }
  }
}

/** Ships until `signal` aborts (call `resumeLogs` first). */
export async function shipLogs(options: LogShippingOptions, signal: AbortSignal): Promise<void> {
  const { store, node, logs, logger } = options;
  const flushMs = options.flushMs ?? DEFAULT_LOG_SHIP_MS;
  const pruneMs = options.pruneMs ?? 10_000;
  const keepBytes = options.keepBytes ?? DEFAULT_LOG_KEEP_BYTES;
  const clock = options.clock ?? systemClock;
  const touched = new Set<string>();
  let nextPrune = clock.now() + pruneMs;
  let failing = false;
  while (!signal.aborted) {
    const started = clock.now();
    try {
      const chunks = logs.take(SHIP_LIMITS);
      if (chunks.length > 0) {
        await store.query(insertLogChunks, [node, ...columns(chunks)]);
        logs.stored(chunks);
        for (const c of chunks) touched.add(c.instance);
      }
      if (clock.now() >= nextPrune) {
        if (touched.size > 0) await store.query(pruneLogs, [node, [...touched], keepBytes]);
        touched.clear();
        nextPrune = clock.now() + pruneMs;
      }
      if (failing) logger.info('instance logs are shipped again');
      failing = false;
    } catch (err) {
      // Kept by the runtime and shipped on a later pass; said once per outage.
      if (!failing) logger.warn({ err: (err as Error).message }, 'could not ship instance logs; they wait on the node');
      failing = true;
    }
    await sleep(Math.max(0, flushMs - (clock.now() - started)), signal, clock);
  }
}

function columns(chunks: readonly LogChunk[]): unknown[][] {
  return [
    chunks.map((c) => c.instance),
    chunks.map((c) => c.run),
    chunks.map((c) => new Date(c.at).toISOString()),
    chunks.map((c) => c.text),
    chunks.map((c) => c.lines),
    chunks.map((c) => Buffer.byteLength(c.text)),
    chunks.map((c) => c.offset),
  ];
}
