import { describe, expect, it } from 'vitest';
import { normaliseRequestTarget } from '../../../../agents/edge/request-path.js';

const path = (target: string) => {
  const result = normaliseRequestTarget(target);
  return result.ok ? result.path + result.query : `400 ${result.reason}`;
};

describe('normaliseRequestTarget', () => {
  it('resolves dot segments as RFC 3986 does, so /public/../admin is /admin', () => {
    expect(path('/public/../admin')).toBe('/admin');
    expect(path('/a/./b/../c')).toBe('/a/c');
    expect(path('/a/b/..')).toBe('/a/');
    expect(path('/a/b/.')).toBe('/a/b/');
    expect(path('/a//../b')).toBe('/a/b');
    expect(path('/.')).toBe('/');
    expect(path('/a/..')).toBe('/');
  });

  it('decodes percent-encoded unreserved characters before resolving dots', () => {
    expect(path('/public/%2e%2e/admin')).toBe('/admin');
    expect(path('/public/%2E./admin')).toBe('/admin');
    expect(path('/%7Euser/%41pi')).toBe('/~user/Api');
  });

  it('keeps other escapes, with their hex in upper case', () => {
    expect(path('/a%20b/%e2%82%ac')).toBe('/a%20b/%E2%82%AC');
    expect(path('/q%3fx')).toBe('/q%3Fx');
  });

  it('keeps the query as sent and drops a fragment', () => {
    expect(path('/a/../b?x=/../y&z=%2F')).toBe('/b?x=/../y&z=%2F');
    expect(path('/a#frag')).toBe('/a');
  });

  it('leaves a plain path untouched, repeated slashes included', () => {
    expect(path('/')).toBe('/');
    expect(path('/api/v1//items...x/.hidden')).toBe('/api/v1//items...x/.hidden');
  });

  it('takes the path and the authority of an absolute-form target', () => {
    expect(normaliseRequestTarget('http://Shop.Test:8080/a/../b?q')).toEqual({ ok: true, path: '/b', query: '?q', authority: 'Shop.Test:8080' });
    expect(normaliseRequestTarget('http://shop.test')).toEqual({ ok: true, path: '/', query: '', authority: 'shop.test' });
  });

  it('refuses what a backend could read differently from the edge', () => {
    expect(path('/../etc/passwd')).toBe('400 the path climbs above the root');
    expect(path('/a/../../b')).toBe('400 the path climbs above the root');
    expect(path('/%2e%2e/b')).toBe('400 the path climbs above the root');
    expect(path('/public%2F..%2Fadmin')).toBe('400 the path holds an encoded slash or backslash (%2F, %5C)');
    expect(path('/public/..%5cadmin')).toBe('400 the path holds an encoded slash or backslash (%2F, %5C)');
    expect(path('/public\\..\\admin')).toBe('400 the path holds a backslash');
    expect(path('/a%00.txt')).toBe('400 the path holds an encoded NUL (%00)');
    expect(path('/a%zz')).toBe('400 the path holds a malformed percent-encoding');
    expect(path('/a%4')).toBe('400 the path holds a malformed percent-encoding');
    expect(path('/public/..;/admin')).toBe('400 the path holds a dot segment with parameters');
    expect(path('*')).toBe('400 the request target is not a path');
    expect(path('shop.test:443')).toBe('400 the request target is not a path');
  });
});
