/**
 * One replica for bench/reconcile.ts: `tend run` plus what a benchmark needs — an optional fixed
 * delay in every reconcile (as a real reconciler waits on a node), and a count of runs per key,
 * written as JSON to `countsFile` when the replica stops (SIGTERM).
 */
import { writeFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { buildPlatform } from '../controllers/platform.js';
import { createLogger, frameworkMigrations, migrate, Store } from '../framework/index.js';
import { platformMigrations } from '../migrations/index.js';

interface ReplicaConfig {
  readonly kubeconfig: string;
  readonly databaseUrl: string;
  readonly replica: string;
  readonly delayMs: number;
  readonly concurrency: number;
  /** Resync period of every controller. @default 20_000 */
  readonly resyncMs?: number;
  readonly countsFile: string;
  readonly healthPort: number;
}

const config = JSON.parse(process.argv[2]!) as ReplicaConfig;
const logger = createLogger({ level: 'warn', replica: config.replica });
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(config.kubeconfig);
const store = new Store({ connectionString: config.databaseUrl, logger });
await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });

const runs = new Map<string, number>();
const manager = buildPlatform({
  kubeConfig,
  store,
  logger,
  replica: config.replica,
  concurrency: config.concurrency,
  healthPort: config.healthPort,
  membership: { heartbeatMs: 500, ttlMs: 3_000, joinDelayMs: 1_000 },
  // Short enough that the steady-state window sees every tenant reconciled again (and writing nothing).
  resyncMs: config.resyncMs ?? 20_000,
  around: (_controller, reconcile) => async (ctx, obj) => {
    runs.set(ctx.key, (runs.get(ctx.key) ?? 0) + 1);
    if (config.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.delayMs));
    return reconcile(ctx, obj);
  },
});
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
await manager.start(stop.signal);
writeFileSync(config.countsFile, JSON.stringify(Object.fromEntries(runs)));
