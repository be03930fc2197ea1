import { describe, expect, it } from 'vitest';
import { CONNECT_TIMEOUT_CODE, UPSTREAM_TIMEOUT_CODE, classifyUpstreamError, hasRequestBody, mayRetry, shouldEject, type FailedAttempt } from '../../../../agents/edge/retry-policy.js';

const failed = (over: Partial<FailedAttempt> = {}): FailedAttempt => ({ method: 'GET', hasBody: false, responseStarted: false, attempt: 1, kind: 'refused', ...over });
const err = (code: string) => Object.assign(new Error(code), { code });

describe('the retry policy', () => {
  it('sorts socket errors into kinds', () => {
    expect(classifyUpstreamError(err('ECONNREFUSED'))).toBe('refused');
    expect(classifyUpstreamError(err('EHOSTUNREACH'))).toBe('refused');
    expect(classifyUpstreamError(err(CONNECT_TIMEOUT_CODE))).toBe('connect_timeout');
    expect(classifyUpstreamError(err(UPSTREAM_TIMEOUT_CODE))).toBe('timeout');
    expect(classifyUpstreamError(err('ECONNRESET'))).toBe('reset');
    expect(classifyUpstreamError(new Error('no code'))).toBe('other');
    expect(classifyUpstreamError(undefined)).toBe('other');
  });

  it('ejects a backend only when it could not be connected to', () => {
    expect(shouldEject('refused')).toBe(true);
    expect(shouldEject('connect_timeout')).toBe(true);
    expect(shouldEject('reset')).toBe(false);
    expect(shouldEject('timeout')).toBe(false);
    expect(shouldEject('other')).toBe(false);
  });

  it('retries an idempotent bodiless request once', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'get']) expect(mayRetry(failed({ method }))).toBe(true);
    expect(mayRetry(failed({ kind: 'reset' }))).toBe(true);
    expect(mayRetry(failed({ attempt: 2 }))).toBe(false);
  });

  it('never retries a POST or PATCH', () => {
    expect(mayRetry(failed({ method: 'POST' }))).toBe(false);
    expect(mayRetry(failed({ method: 'PATCH' }))).toBe(false);
  });

  it('never retries a request whose body already went to the failed attempt', () => {
    expect(mayRetry(failed({ method: 'PUT', hasBody: true }))).toBe(false);
  });

  it('never retries once the client has seen part of a response', () => {
    expect(mayRetry(failed({ responseStarted: true }))).toBe(false);
  });

  it('never retries after an upstream timeout: the slow backend may still be working on it', () => {
    expect(mayRetry(failed({ kind: 'timeout' }))).toBe(false);
  });

  it('does not retry an error it cannot explain', () => {
    expect(mayRetry(failed({ kind: 'other' }))).toBe(false);
  });

  it('reads a body from Content-Length or Transfer-Encoding', () => {
    expect(hasRequestBody({})).toBe(false);
    expect(hasRequestBody({ 'content-length': '0' })).toBe(false);
    expect(hasRequestBody({ 'content-length': '12' })).toBe(true);
    expect(hasRequestBody({ 'transfer-encoding': 'chunked' })).toBe(true);
  });
});
