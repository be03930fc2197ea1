/**
 * The behaviour every WorkQueue implementation promises, as a vitest suite: run it against a
 * new queue with `describeWorkQueue('MemoryQueue', (deps) => new MemoryQueue(deps))`.
 */
import { describe, expect, it } from 'vitest';
import type { Key } from '../reconcile/index.js';
import type { RateLimiter, WorkQueue } from '../queue/index.js';
import { ExponentialRateLimiter } from '../queue/rate-limiter.js';
import { FakeClock } from './fake-clock.js';

export interface QueueDeps {
  readonly clock: FakeClock;
  readonly rateLimiter: RateLimiter;
}

const k = (s: string) => s as Key;

/** Resolves with the queue's next key if one is ready now, else with 'nothing ready'. */
async function takeNow(queue: WorkQueue): Promise<Key | 'nothing ready'> {
  const controller = new AbortController();
  const got = queue.get(controller.signal);
  await Promise.resolve();
  controller.abort();
  return (await got) ?? 'nothing ready';
}

/** Registers the WorkQueue conformance tests for `make`. */
export function describeWorkQueue(name: string, make: (deps: QueueDeps) => WorkQueue): void {
  const setup = () => {
    const clock = new FakeClock();
    const rateLimiter = new ExponentialRateLimiter({ baseDelayMs: 5, maxDelayMs: 1_000_000 });
    return { clock, rateLimiter, queue: make({ clock, rateLimiter }) };
  };

  describe(`${name} (WorkQueue conformance)`, () => {
    it('hands out a key added many times before it is taken only once', async () => {
      const { queue } = setup();
      for (let i = 0; i < 5; i++) queue.add(k('a'));
      expect(queue.depth()).toBe(1);
      expect(await queue.get()).toBe('a');
      expect(await takeNow(queue)).toBe('nothing ready');
    });

    it('hands out keys in the order they were first added', async () => {
      const { queue } = setup();
      for (const key of ['c', 'a', 'b', 'a', 'c']) queue.add(k(key));
      expect([await queue.get(), await queue.get(), await queue.get()]).toEqual(['c', 'a', 'b']);
    });

    it('never hands a key being processed to a second worker', async () => {
      const { queue } = setup();
      queue.add(k('a'));
      expect(await queue.get()).toBe('a');
      queue.add(k('a'));
      queue.add(k('a'));
      expect(await takeNow(queue)).toBe('nothing ready');
    });

    it('re-adding a key while it is processing reconciles it once more after done', async () => {
      const { queue } = setup();
      queue.add(k('a'));
      const key = (await queue.get())!;
      queue.add(k('a'));
      queue.add(k('a'));
      queue.done(key);
      expect(await queue.get()).toBe('a');
      queue.done(k('a'));
      expect(await takeNow(queue)).toBe('nothing ready');
    });

    it('done without a re-add leaves nothing to do', async () => {
      const { queue } = setup();
      queue.add(k('a'));
      queue.done((await queue.get())!);
      expect(await takeNow(queue)).toBe('nothing ready');
    });

    it('wakes a waiting worker when a key is added', async () => {
      const { queue } = setup();
      const waiting = queue.get();
      queue.add(k('late'));
      expect(await waiting).toBe('late');
    });

    it('gives null to a worker whose signal aborts while it waits', async () => {
      const { queue } = setup();
      const controller = new AbortController();
      const waiting = queue.get(controller.signal);
      controller.abort();
      expect(await waiting).toBeNull();
      queue.add(k('a'));
      expect(await queue.get()).toBe('a'); // the aborted waiter did not swallow it
    });

    it('makes a key added with a delay ready only when the delay has passed', async () => {
      const { queue, clock } = setup();
      queue.addAfter(k('a'), 1_000);
      clock.advance(999);
      expect(await takeNow(queue)).toBe('nothing ready');
      clock.advance(1);
      expect(await takeNow(queue)).toBe('a');
    });

    it('keeps the earlier time when a delayed key is added again with a later one', async () => {
      const { queue, clock } = setup();
      queue.addAfter(k('a'), 100);
      queue.addAfter(k('a'), 5_000);
      clock.advance(100);
      expect(await takeNow(queue)).toBe('a');
    });

    it('moves a delayed key earlier when it is added again with an earlier time', async () => {
      const { queue, clock } = setup();
      queue.addAfter(k('a'), 5_000);
      queue.addAfter(k('a'), 100);
      clock.advance(100);
      expect(await takeNow(queue)).toBe('a');
    });

    it('backs off a failing key exponentially from 5 ms, and forget resets it', async () => {
      const { queue, clock } = setup();
      const delays: number[] = [];
      for (let attempt = 0; attempt < 4; attempt++) {
        queue.addRateLimited(k('a'));
        let waited = 0;
        while ((await takeNow(queue)) === 'nothing ready') {
          clock.advance(1);
          waited++;
        }
        delays.push(waited);
        queue.done(k('a'));
      }
      expect(delays).toEqual([5, 10, 20, 40]);
      expect(queue.failures(k('a'))).toBe(4);
      queue.forget(k('a'));
      expect(queue.failures(k('a'))).toBe(0);
    });

    it('backs off one key without delaying others', async () => {
      const { queue, clock } = setup();
      for (let i = 0; i < 10; i++) queue.addRateLimited(k('bad'));
      queue.add(k('good'));
      expect(await takeNow(queue)).toBe('good');
      clock.advance(5);
      expect(await takeNow(queue)).toBe('bad');
    });

    it('stops handing out keys once shut down, and wakes waiting workers with null', async () => {
      const { queue } = setup();
      const waiting = queue.get();
      await queue.shutdown();
      expect(await waiting).toBeNull();
      queue.add(k('a'));
      expect(await queue.get()).toBeNull();
    });

    it('shutdown waits for in-flight keys to be done', async () => {
      const { queue } = setup();
      queue.add(k('a'));
      const key = (await queue.get())!;
      let finished = false;
      const stopping = queue.shutdown({ drainMs: 60_000 }).then(() => (finished = true));
      await Promise.resolve();
      expect(finished).toBe(false);
      queue.done(key);
      await stopping;
      expect(finished).toBe(true);
    });

    it('shutdown gives up on in-flight keys after the drain deadline', async () => {
      const { queue, clock } = setup();
      queue.add(k('stuck'));
      await queue.get();
      const stopping = queue.shutdown({ drainMs: 30_000 });
      clock.advance(30_000);
      await expect(stopping).resolves.toBeUndefined();
    });

    it('drops delayed keys at shutdown instead of keeping timers alive', async () => {
      const { queue, clock } = setup();
      queue.addAfter(k('a'), 1_000);
      await queue.shutdown();
      expect(clock.pending()).toBe(0);
    });
  });
}
