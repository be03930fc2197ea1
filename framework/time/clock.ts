/**
 * @module
 * Time as a dependency: the queue, the informer, membership, the PostgreSQL client's watch and
 * the node agent read the clock through this interface, so tests move time by hand
 * (framework/testing/fake-clock.ts) instead of sleeping.
 *
 * - clock.ts: `Clock` (now, setTimer) and the system clock.
 * - sleep.ts: a wait on a clock that an AbortSignal ends early.
 * - backoff.ts: the one backoff policy (base · 2^(failures − 1), capped).
 * - hold-open.ts: keeps a process alive while its loops wait on unref'd timers.
 * - rfc3339.ts: timestamps in whole seconds, as the API server stores them.
 *
 * ```ts
 * const clock = new FakeClock();
 * const waited = sleep(backoffDelay(3, { baseDelayMs: 100, maxDelayMs: 10_000 }), signal, clock);
 * clock.advance(400);   // resolves `waited`
 * ```
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

/** The real clock. Timers are unref'd: a pending retry must not keep a stopping process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, Math.max(0, ms));
    timer.unref();
    return () => clearTimeout(timer);
  },
};
