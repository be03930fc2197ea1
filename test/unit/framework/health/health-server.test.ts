import { pino } from 'pino';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer, type Checker, type HealthServer, type HealthServerOptions } from '../../../../framework/health/index.js';

const servers: HealthServer[] = [];

async function start(options: Omit<HealthServerOptions, 'port'>): Promise<string> {
  const server = await startHealthServer({ port: 0, ...options });
  servers.push(server);
  return `http://127.0.0.1:${server.port}`;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const ok = (name: string): Checker => ({ name, check: async () => {} });
const failing = (name: string, reason: string): Checker => ({
  name,
  check: async () => {
    throw new Error(reason);
  },
});

async function get(url: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

describe('startHealthServer', () => {
  it('answers 200 ok when every check passes, and lists them with ?verbose', async () => {
    const base = await start({ liveness: [ok('loop')], readiness: [ok('postgres'), ok('informers')] });

    expect(await get(`${base}/healthz`)).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(`${base}/readyz`)).toMatchObject({ status: 200, body: 'ok' });
    expect((await get(`${base}/readyz?verbose`)).body).toBe('[+]postgres ok\n[+]informers ok\nreadyz check passed\n');
  });

  it('answers 503 listing every check with the reason of each failing one', async () => {
    const base = await start({ liveness: [ok('loop')], readiness: [ok('postgres'), failing('informers', 'apps not\nsynced')] });

    const ready = await get(`${base}/readyz`);

    expect(ready.status).toBe(503);
    expect(ready.body).toBe('[+]postgres ok\n[-]informers failed: apps not synced\nreadyz check failed\n');
    expect(ready.type).toMatch(/^text\/plain/);
    expect((await get(`${base}/healthz`)).status).toBe(200);
  });

  it('fails a hanging check after the timeout and aborts its signal', async () => {
    let seen: AbortSignal | undefined;
    const hanging: Checker = {
      name: 'hanging',
      check: (signal) => {
        seen = signal;
        return new Promise<void>(() => {});
      },
    };
    const base = await start({ readiness: [hanging, ok('postgres')], checkTimeoutMs: 50 });

    const ready = await get(`${base}/readyz`);

    expect(ready.status).toBe(503);
    expect(ready.body).toContain('[-]hanging failed: timed out after 50 ms');
    expect(ready.body).toContain('[+]postgres ok');
    expect(seen?.aborted).toBe(true);
  });

  it('serves the metrics registry with its content type', async () => {
    const registry = new Registry();
    new Counter({ name: 'tend_test_probes_total', help: 'probes', registers: [registry] }).inc(3);
    const base = await start({ metrics: registry });

    const metrics = await get(`${base}/metrics`);

    expect(metrics.status).toBe(200);
    expect(metrics.type).toBe(registry.contentType);
    expect(metrics.body).toContain('tend_test_probes_total 3');
  });

  it('answers 404 for any other path, and for /metrics without a registry', async () => {
    const base = await start({});

    expect((await get(`${base}/`)).status).toBe(404);
    expect((await get(`${base}/livez`)).status).toBe(404);
    expect((await get(`${base}/metrics`)).status).toBe(404);
    expect((await get(`${base}/healthz`)).status).toBe(200);
  });

  it('keeps a withheld reason out of the answer and puts it in the log', async () => {
    const lines: { msg: string; reason?: string }[] = [];
    const logger = pino({}, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
    const database: Checker = { ...failing('database', 'password authentication failed for user "tend_admin"'), withholdReason: true };
    const base = await start({ readiness: [database], logger });

    const ready = await get(`${base}/readyz`);

    expect(ready).toMatchObject({ status: 503, body: '[-]database failed: reason withheld (see the log)\nreadyz check failed\n' });
    expect(lines.find((l) => l.msg === 'health check failing')?.reason).toBe('password authentication failed for user "tend_admin"');
  });

  it('logs a failing check once when it starts failing and once when it recovers', async () => {
    const lines: { msg: string; check?: string }[] = [];
    const logger = pino({}, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
    let healthy = false;
    const flapping: Checker = {
      name: 'postgres',
      check: async () => {
        if (!healthy) throw new Error('connection refused');
      },
    };
    const base = await start({ readiness: [flapping], logger });

    await get(`${base}/readyz`);
    await get(`${base}/readyz`);
    healthy = true;
    await get(`${base}/readyz`);

    expect(lines.filter((l) => l.check === 'postgres').map((l) => l.msg)).toEqual(['health check failing', 'health check recovered']);
  });

  it('closes at once, dropping a probe still waiting on a slow check, and frees its port', async () => {
    let called!: () => void;
    const checking = new Promise<void>((resolve) => (called = resolve));
    const slow: Checker = { name: 'slow', check: () => (called(), new Promise<void>(() => {})) };
    const server = await startHealthServer({ port: 0, readiness: [slow], checkTimeoutMs: 60_000 });
    const base = `http://127.0.0.1:${server.port}`;
    const probe = fetch(`${base}/readyz`).catch((err: unknown) => err);
    await checking;

    await server.close();
    await server[Symbol.asyncDispose]();

    expect(await probe).toBeInstanceOf(Error);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it('refuses two checkers with the same name', async () => {
    await expect(startHealthServer({ port: 0, readiness: [ok('postgres'), ok('postgres')] })).rejects.toThrow(/two readiness checkers are named postgres/);
  });
});
