/**
 * @module
 * What tests of a controller built on the framework need, importable as `@tend-dev/tend/framework/testing`:
 * a clock that moves only when told, a seeded random source, `eventually` (wait for an
 * asynchronous effect with a deadline, never a fixed sleep), and the WorkQueue conformance suite
 * every queue implementation must pass. The conformance suite registers vitest tests, so it needs
 * vitest installed; the rest has no dependency.
 *
 * ```ts
 * import { describe, expect, it } from 'vitest';
 * import { MemoryQueue } from '@tend-dev/tend/framework';
 * import { FakeClock, describeWorkQueue, eventually } from '@tend-dev/tend/framework/testing';
 *
 * describeWorkQueue('MemoryQueue', (deps) => new MemoryQueue(deps));   // your own queue the same way
 *
 * it('retries after the backoff, not before', async () => {
 *   const clock = new FakeClock();
 *   // … start something with `clock`, then:
 *   clock.advance(5_000);
 *   await eventually(() => expect(attempts).toBe(2), { timeoutMs: 1_000 });
 * });
 * ```
 */
export { eventually } from './eventually.js';
export { FakeClock } from './fake-clock.js';
export { describeWorkQueue, type QueueDeps } from './queue-conformance.js';
export { seededRandom } from './seeded-random.js';
