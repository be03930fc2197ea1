/** The informer's retry timing against a scripted server, on a fake clock. */
import { describe, expect, it } from 'vitest';
import { ApiError, GoneError, type Resource, type ResourceClient } from '../../../../framework/client/index.js';
import { Informer } from '../../../../framework/source/informer.js';
import { FakeClock } from '../../../../framework/testing/fake-clock.js';

type Outcome = 'end' | ApiError;

/** A server whose watches fail as scripted, one outcome per watch; lists always answer. */
function scriptedServer(clock: FakeClock, watches: Outcome[]) {
  const calls: string[] = [];
  const started = clock.now();
  const client: ResourceClient<Resource> = {
    type: { group: 'test.tend.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true },
    async list() {
      calls.push(`list @${clock.now() - started}`);
      return { items: [], resourceVersion: '7' };
    },
    async watch(_rv, _onEvent, signal) {
      calls.push(`watch @${clock.now() - started}`);
      const outcome = watches.shift();
      if (outcome === undefined) return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      if (outcome === 'end') return;
      throw outcome;
    },
    get: async () => undefined,
    create: async (o) => o,
    update: async (o) => o,
    patchStatus: async () => { throw new Error('not here'); },
    delete: async () => {},
  };
  return { client, calls };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

/** Runs the clock in 100 ms steps for `ms`, letting the informer's promises settle in between. */
async function run(clock: FakeClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    await flush();
    clock.advance(100);
  }
  await flush();
}

const refused = () => new ApiError('connect ECONNREFUSED 127.0.0.1:6443', 0);

describe('Informer retries', () => {
  it('asks a server that answers 429 again after a second, not after the backoff its absence built up', async () => {
    const clock = new FakeClock();
    // Down for a while (100 … 3200 ms), then up with its watch cache still initialising, then ready.
    const { client, calls } = scriptedServer(clock, [refused(), refused(), refused(), refused(), refused(), refused(), new ApiError('Too Many Requests', 429), new ApiError('Too Many Requests', 429)]);
    const stop = new AbortController();
    new Informer(client, { clock }).start(stop.signal);
    await run(clock, 12_000);
    stop.abort();
    expect(calls).toEqual(['list @0', 'watch @0', 'watch @100', 'watch @300', 'watch @700', 'watch @1500', 'watch @3100', 'watch @6300', 'watch @7300', 'watch @8300']);
  });

  it('lists again at once after 410 Gone, and starts its backoff over after the list', async () => {
    const clock = new FakeClock();
    const { client, calls } = scriptedServer(clock, [refused(), refused(), refused(), new GoneError('too old resource version', 410), refused()]);
    const stop = new AbortController();
    const informer = new Informer(client, { clock });
    informer.start(stop.signal);
    await run(clock, 2_000);
    stop.abort();
    expect(calls).toEqual(['list @0', 'watch @0', 'watch @100', 'watch @300', 'watch @700', 'list @700', 'watch @700', 'watch @800']);
    expect([informer.listCount, informer.expiredCount]).toEqual([2, 1]);
  });
});
