import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../../../framework/time/clock.js';
import { FakeClock } from '../../../../../framework/testing/fake-clock.js';
import { HealthChecker, probeHttp } from '../../../../../agents/node/runtime/health-checker.js';
import { eventually } from '../../../../env/eventually.js';

const servers: Server[] = [];
const checkers: HealthChecker[] = [];

afterEach(async () => {
  for (const checker of checkers.splice(0)) checker.stop();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A server answering each request with whatever `status()` says now; 0 means never answer. */
async function serve(status: () => number): Promise<{ port: number; requests: () => number }> {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    const code = status();
    if (code !== 0) res.writeHead(code, code >= 300 && code < 400 ? { location: '/elsewhere' } : {}).end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, requests: () => requests };
}

function checker(port: number, failureThreshold: number, flips: [boolean, string][]): HealthChecker {
  const c = new HealthChecker({
    port,
    check: { path: '/healthz', periodMs: 10, timeoutMs: 200, failureThreshold },
    clock: systemClock,
    onReadyChange: (ready, detail) => flips.push([ready, detail]),
  });
  checkers.push(c);
  return c;
}

describe('HealthChecker', () => {
  it('is ready after one passing probe and not ready only after failureThreshold failures in a row', async () => {
    let status = 200;
    const server = await serve(() => status);
    const flips: [boolean, string][] = [];
    const c = checker(server.port, 3, flips);

    c.start();
    await eventually(() => expect(flips).toEqual([[true, expect.stringContaining(': 200')]]));
    status = 503;
    const failingFrom = server.requests();
    await eventually(() => expect(flips).toHaveLength(2));

    expect(flips[1]).toEqual([false, expect.stringMatching(/^3 probes failed in a row, last: .*: 503$/)]);
    expect(server.requests() - failingFrom).toBeGreaterThanOrEqual(3);
    expect(c.isReady()).toBe(false);
    status = 200;
    await eventually(() => expect(flips.map(([ready]) => ready)).toEqual([true, false, true]));
  });

  it('stops probing when stopped', async () => {
    const server = await serve(() => 200);
    const flips: [boolean, string][] = [];
    const c = checker(server.port, 1, flips);
    c.start();
    await eventually(() => expect(flips).toHaveLength(1));

    c.stop();
    const after = server.requests();
    // Another server's probes as a clock: by the time it has seen several, a live checker would have probed again.
    const witness = await serve(() => 200);
    const other = checker(witness.port, 1, []);
    other.start();
    await eventually(() => expect(witness.requests()).toBeGreaterThanOrEqual(5));

    expect(server.requests()).toBeLessThanOrEqual(after + 1); // at most the probe already in flight
  });
});

describe('HealthChecker before the first pass', () => {
  it('probes every 500 ms until the instance first passes, then every period', async () => {
    let status = 503;
    const server = await serve(() => status);
    const clock = new FakeClock();
    const flips: [boolean, string][] = [];
    const c = new HealthChecker({ port: server.port, check: { path: '/healthz', periodMs: 600_000, timeoutMs: 200, failureThreshold: 1 }, clock, onReadyChange: (r, d) => flips.push([r, d]) });
    checkers.push(c);
    c.start();
    clock.advance(0);
    await eventually(() => (server.requests() === 1 ? true : undefined));
    status = 200;
    // Not a period (10 min) later: half a second.
    await eventually(() => {
      clock.advance(500);
      return flips.length === 1 ? true : undefined;
    });
    expect(flips[0]![0]).toBe(true);
    const passed = server.requests();
    clock.advance(590_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.requests()).toBe(passed);
  });
});

describe('probeHttp', () => {
  it('passes 2xx and 3xx and fails 4xx, 5xx, refused connections and probes that time out', async () => {
    const codes = [204, 302, 404, 500];
    const results = [];
    for (const code of codes) {
      const { port } = await serve(() => code);
      results.push((await probeHttp(`http://127.0.0.1:${port}/healthz`, 500, systemClock)).ok);
    }
    expect(results).toEqual([true, true, false, false]);

    const silent = await serve(() => 0);
    expect(await probeHttp(`http://127.0.0.1:${silent.port}/healthz`, 100, systemClock)).toEqual({ ok: false, detail: expect.stringMatching(/no answer within 100 ms/) });
    const closed = await serve(() => 200);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    expect(await probeHttp(`http://127.0.0.1:${closed.port}/healthz`, 500, systemClock)).toEqual({ ok: false, detail: expect.stringMatching(/ECONNREFUSED/) });
  });
});
