import { describe, expect, it } from 'vitest';
import { MemoryQueue } from '../../../../framework/queue/memory-queue.js';
import { FakeClock } from '../../../../framework/testing/fake-clock.js';
import { describeWorkQueue } from '../../../../framework/testing/queue-conformance.js';
import type { Key } from '../../../../framework/reconcile/index.js';

describeWorkQueue('MemoryQueue', (deps) => new MemoryQueue(deps));

describe('MemoryQueue', () => {
  it('reports how long keys waited ready and how long they were worked on', async () => {
    const clock = new FakeClock();
    const seen = { waited: [] as number[], worked: [] as number[], added: 0 };
    const queue = new MemoryQueue({
      clock,
      metrics: {
        added: () => seen.added++,
        taken: (ms) => seen.waited.push(ms),
        finished: (ms) => seen.worked.push(ms),
        retried: () => {},
        depth: () => {},
      },
    });
    queue.add('a' as Key);
    queue.add('a' as Key);
    clock.advance(30);
    const key = (await queue.get())!;
    clock.advance(70);
    expect(queue.inFlight()).toEqual({ count: 1, totalMs: 70, longestMs: 70 });
    queue.done(key);
    expect(seen).toEqual({ waited: [30], worked: [70], added: 2 });
  });

  it('holds ten thousand delayed keys and releases them in time order', async () => {
    const clock = new FakeClock();
    const queue = new MemoryQueue({ clock });
    for (let i = 0; i < 10_000; i++) queue.addAfter(`k${i}` as Key, 10_000 - i);
    expect(queue.delayedCount()).toBe(10_000);
    clock.advance(10_000);
    expect(queue.depth()).toBe(10_000);
    expect(await queue.get()).toBe('k9999');
  });
});
