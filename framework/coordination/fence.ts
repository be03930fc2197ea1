/**
 * Fenced writes to PostgreSQL (docs/coordination.md). A reconcile's `ctx.fence` is the epoch of
 * the membership view under which its replica owned the key. A guarded statement calls
 * `tend.fenced($n::bigint)` with it (in its WHERE clause, or first in its transaction through
 * `fencedTx`): the database refuses the write with SQLSTATE `TF001` unless that epoch is still the
 * current one, and holds the view still until the write commits. 0 means unfenced (a single
 * replica that owns everything).
 *
 * ```ts
 * const upsertWidget: NamedQuery = {
 *   name: 'widget.upsert',
 *   text: `insert into widgets (key, size) select $1, $2 where tend.fenced($3::bigint)
 *          on conflict (key) do update set size = excluded.size where widgets.size <> excluded.size`,
 * };
 * await store.query(upsertWidget, [ctx.key, size, String(ctx.fence)]);   // refused: isFenced(err)
 * ```
 */
import type { Store, Tx } from '../store/index.js';
import type { NamedQuery } from '../store/named-query.js';

/** The SQLSTATE `tend.fenced()` raises when a write carries an epoch that is no longer current. */
export const FENCED_SQLSTATE = 'TF001';

/**
 * A client silent this long inside a fenced transaction is paused or gone: the server ends its
 * session, so it cannot hold the membership view still (and every replica's keys where they are).
 */
export const FENCED_TX_IDLE_TIMEOUT_MS = 5_000;

/** Whether `err`, or an error it was caused by, is a write the fence refused. */
export function isFenced(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === FENCED_SQLSTATE) return true;
  }
  return false;
}

const holdFence: NamedQuery = {
  name: 'tend.hold_fence',
  text: `select set_config('idle_in_transaction_session_timeout', $2::text, true), tend.fenced($1::bigint)`,
};

/**
 * Runs `fn` in one transaction that first checks `fence` (refused: rejects with an error for which
 * `isFenced` is true) and keeps the view still until it commits. The check comes first, before any
 * other lock, so a transaction never waits for the view while holding what a fenced writer needs.
 */
export async function fencedTx<T>(store: Store, fence: bigint, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return store.tx(async (tx) => {
    await tx.query(holdFence, [String(fence), String(FENCED_TX_IDLE_TIMEOUT_MS)]);
    return fn(tx);
  });
}
