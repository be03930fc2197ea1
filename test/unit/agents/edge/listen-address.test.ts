import { describe, expect, it } from 'vitest';
import { formatListenAddress, parseListenAddress } from '../../../../agents/edge/listen-address.js';

describe('listen addresses', () => {
  it('read HOST:PORT, [IPv6]:PORT and :PORT', () => {
    expect(parseListenAddress('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListenAddress(':80')).toEqual({ host: '0.0.0.0', port: 80 });
    expect(parseListenAddress('localhost:9000')).toEqual({ host: 'localhost', port: 9000 });
  });

  it('refuse a missing or impossible port, quoting the text', () => {
    expect(() => parseListenAddress('8080')).toThrow('got "8080"');
    expect(() => parseListenAddress('127.0.0.1:70000')).toThrow(/port from 0 to 65535/);
    expect(() => parseListenAddress('::1:80')).toThrow(TypeError);
  });

  it('print as a URL with IPv6 in brackets', () => {
    expect(formatListenAddress({ host: '::1', port: 8080 })).toBe('http://[::1]:8080');
    expect(formatListenAddress({ host: '127.0.0.1', port: 1 })).toBe('http://127.0.0.1:1');
  });
});
