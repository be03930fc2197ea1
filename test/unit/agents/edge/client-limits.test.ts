import { describe, expect, it } from 'vitest';
import { DEFAULT_CLIENT_LIMITS, compileClientLimits, timeoutCheckIntervalMs } from '../../../../agents/edge/client-limits.js';

describe('compileClientLimits', () => {
  it('fills in the defaults around what is given', () => {
    expect(compileClientLimits({ upstreamTimeoutMs: 500, maxConnections: undefined })).toEqual({ ...DEFAULT_CLIENT_LIMITS, upstreamTimeoutMs: 500 });
    expect(DEFAULT_CLIENT_LIMITS).toEqual({
      headerTimeoutMs: 10_000,
      requestTimeoutMs: 300_000,
      keepAliveTimeoutMs: 75_000,
      upstreamTimeoutMs: 60_000,
      webSocketIdleTimeoutMs: 300_000,
      maxConnections: 10_000,
    });
  });

  it('refuses a value that is no whole number ≥ 1, naming it', () => {
    expect(() => compileClientLimits({ maxConnections: 0 })).toThrow('edge limit maxConnections must be a whole number ≥ 1, got 0');
    expect(() => compileClientLimits({ keepAliveTimeoutMs: 1.5 })).toThrow('edge limit keepAliveTimeoutMs must be a whole number ≥ 1, got 1.5');
  });

  it('refuses a header timeout longer than the request timeout', () => {
    expect(() => compileClientLimits({ headerTimeoutMs: 2_000, requestTimeoutMs: 1_000 })).toThrow(
      'edge limit headerTimeoutMs (2000) must not exceed requestTimeoutMs (1000)',
    );
  });
});

describe('timeoutCheckIntervalMs', () => {
  it('checks often enough that a timeout fires at most a quarter late, between 50 ms and 1 s', () => {
    expect(timeoutCheckIntervalMs(DEFAULT_CLIENT_LIMITS)).toBe(1_000);
    expect(timeoutCheckIntervalMs(compileClientLimits({ headerTimeoutMs: 400 }))).toBe(100);
    expect(timeoutCheckIntervalMs(compileClientLimits({ headerTimeoutMs: 10, requestTimeoutMs: 20 }))).toBe(50);
  });
});
