import type { Key } from '../reconcile/index.js';

/**
 * Which keys this replica reconciles. The runtime asks before every reconcile and, when the
 * answer changes, re-enqueues the keys this replica gained and aborts work on the keys it lost.
 */
export interface Ownership {
  /** Whether this replica should reconcile `key` of `controller` now. */
  owns(controller: string, key: Key): boolean;
  /**
   * Fencing token of this replica's current claim: the epoch of the ownership view that `owns`
   * answers from (-1 without a claim, 0 when unfenced). Guarded writes carry it (`tend.fenced`).
   */
  fence(): bigint;
  /**
   * Calls `handler` after every change of ownership with the answer `owns` gave before it, so
   * the runtime can tell gained keys from kept ones; returns an unsubscribe function.
   */
  onChange(handler: (ownedBefore: (controller: string, key: Key) => boolean) => void): () => void;
}

/** A single replica owns everything (tests, one-process tools, standalone mode). */
export const ownsEverything: Ownership = {
  owns: () => true,
  fence: () => 0n,
  onChange: () => () => {},
};
