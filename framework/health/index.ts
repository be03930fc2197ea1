/**
 * @module
 * `/healthz`, `/readyz` and `/metrics` for one process, built from named `Checker` functions.
 *
 * Design notes
 * - Liveness asks "is this process wedged?" and readiness "can it do its job?". A database
 *   outage belongs in readiness only: failing liveness on it would restart every replica at once
 *   and fix nothing.
 * - Every check is bounded (2 s by default) and gets an AbortSignal, so a hung dependency makes
 *   the probe fail fast instead of making the kubelet's probe time out with no reason given.
 * - The output is kube-apiserver's (`[+]name ok` / `[-]name failed: reason`), so people who read
 *   `kubectl get --raw /readyz?verbose` read this the same way.
 * - Failures are logged once when they start and once when they stop, not on every probe.
 *
 * ```ts
 * await using health = await startHealthServer({
 *   port: 8081,
 *   host: '0.0.0.0',
 *   liveness: [{ name: 'event-loop', check: async () => {} }],
 *   readiness: [{ name: 'postgres', check: () => store.ping() }, { name: 'informers', check: async () => assertSynced() }],
 *   metrics: registry,
 *   logger,
 * });
 * // curl localhost:8081/readyz?verbose  →  [+]postgres ok\n[-]informers failed: apps not synced\nreadyz check failed
 * ```
 */
export { runCheckers, type Checker, type CheckResult } from './checker.js';
export { startHealthServer, type HealthServer, type HealthServerOptions } from './health-server.js';
