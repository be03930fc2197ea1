/**
 * @module
 * The contract a controller author implements: one async function of (context, object) that
 * drives the world toward `obj.spec` and says when to look again.
 *
 * Design notes
 * - The reconciler never learns *why* it runs (create, update, resync, retry): the queue holds keys
 *   only, so every run must work from the current state. That is what makes duplicates, retries
 *   and a crash half-way harmless.
 * - `Result` has one knob, `requeueAfterMs`. Throw to retry with per-key backoff; throw a
 *   `TerminalError` when retrying cannot help (bad input) and the next change should.
 *
 * ```ts
 * const reconcileTenant: Reconciler<Tenant> = async (ctx, tenant) => {
 *   const plan = planTenant(tenant, await observe(ctx, tenant), { now: ctx.now() });
 *   await execute(ctx, plan);
 *   return plan.converged ? done() : requeueAfter(5_000);
 * };
 * ```
 */
import type { Logger } from 'pino';

/** A queue key: `namespace/name` for namespaced objects, `name` for cluster-scoped ones. */
export type Key = string & { readonly __brand: 'tend.Key' };

/** Makes a key from a namespace (absent for cluster-scoped objects) and a name. */
export function keyOf(namespace: string | undefined, name: string): Key {
  return (namespace ? `${namespace}/${name}` : name) as Key;
}

/** Splits a key back into namespace and name. */
export function parseKey(key: Key): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** What the runtime does after a successful reconcile. One knob, on purpose. */
export interface Result {
  /** Look again after this long; absent means "at the controller's resync period". */
  readonly requeueAfterMs?: number;
}

/** Converged for now: come back on the next change (or resync). */
export const done = (): Result => ({});

/** Not converged yet, nothing failed: look again after `ms`. */
export const requeueAfter = (ms: number): Result => ({ requeueAfterMs: ms });

/** Thrown by a reconciler when retrying cannot help until the object changes. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

/** Everything a reconcile may use; bound to one key and one run. */
export interface ReconcileContext {
  readonly key: Key;
  /** Aborted on shutdown or when this replica loses the key. */
  readonly signal: AbortSignal;
  /** pino child carrying controller, key, generation and reconcileId on every line. */
  readonly log: Logger;
  /** Injected clock: planners take time from here, never from Date.now(). */
  readonly now: () => Date;
  /** Identifies this run in logs and the reconcile journal. */
  readonly reconcileId: string;
  /**
   * Fencing token: the epoch of the ownership view under which this replica was handed the key.
   * Pass it to guarded writes (`tend.fenced($n)`, `fencedTx`); once the view has moved on they are
   * refused, and the runtime looks at the key again.
   */
  readonly fence: bigint;
}

/**
 * Drives the world toward `obj.spec`. Must be idempotent: it may run again at any time.
 * Throw to retry with backoff; throw `TerminalError` to wait for the next change.
 */
export type Reconciler<T, C extends ReconcileContext = ReconcileContext> = (ctx: C, obj: T) => Promise<Result>;
