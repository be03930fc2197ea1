import { describe, expect, it } from 'vitest';
import { TrustedProxies, setForwardedHeaders, type Headers } from '../../../../agents/edge/forwarded-headers.js';

const forwarded = (headers: Headers, peer: string, trusted = TrustedProxies.none()) => {
  const copy: Headers = { host: 'shop.test', ...headers };
  setForwardedHeaders(copy, peer, 'shop.test', trusted);
  return copy;
};

describe('setForwardedHeaders', () => {
  it('replaces every forwarding header a client sent when the peer is not trusted', () => {
    const spoofed = {
      'x-forwarded-for': '10.0.0.1',
      'x-real-ip': '10.0.0.1',
      forwarded: 'for=10.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'admin.internal',
      'x-forwarded-port': '443',
      'x-forwarded-prefix': '/admin',
    };
    expect(forwarded(spoofed, '203.0.113.9')).toEqual({
      host: 'shop.test',
      'x-forwarded-for': '203.0.113.9',
      'x-real-ip': '203.0.113.9',
      forwarded: 'for=203.0.113.9;host=shop.test;proto=http',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.test',
    });
  });

  it('writes IPv4-mapped peers as IPv4 and quotes IPv6 and hosts with a port in Forwarded', () => {
    expect(forwarded({}, '::ffff:127.0.0.1')['x-forwarded-for']).toBe('127.0.0.1');
    const v6 = { host: 'shop.test:8080' } as Headers;
    setForwardedHeaders(v6, '2001:db8::7', 'shop.test:8080', TrustedProxies.none());
    expect(v6.forwarded).toBe('for="[2001:db8::7]";host="shop.test:8080";proto=http');
    expect(v6['x-real-ip']).toBe('2001:db8::7');
  });

  it('extends the chain of a trusted proxy and takes the nearest untrusted address as the client', () => {
    const trusted = TrustedProxies.parse(['10.0.0.0/8', 'fd00::/8']);
    const headers = forwarded(
      { 'x-forwarded-for': '198.51.100.1, 203.0.113.9, 10.1.2.3', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example', forwarded: 'for=203.0.113.9' },
      '::ffff:10.9.9.9',
      trusted,
    );
    expect(headers).toMatchObject({
      'x-forwarded-for': '198.51.100.1, 203.0.113.9, 10.1.2.3, 10.9.9.9',
      'x-real-ip': '203.0.113.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'shop.example',
      forwarded: 'for=203.0.113.9, for=10.9.9.9;host=shop.test;proto=http',
    });
  });

  it('from a trusted proxy, keeps only http or https as the protocol and starts a chain when none came', () => {
    const trusted = TrustedProxies.parse(['127.0.0.1']);
    expect(forwarded({ 'x-forwarded-proto': 'gopher' }, '127.0.0.1', trusted)).toMatchObject({
      'x-forwarded-for': '127.0.0.1',
      'x-real-ip': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.test',
    });
  });
});

describe('TrustedProxies', () => {
  it('matches addresses inside its blocks only', () => {
    const trusted = TrustedProxies.parse(['10.0.0.0/8', '192.0.2.7', '::1']);
    expect(trusted.has('10.255.0.1')).toBe(true);
    expect(trusted.has('::ffff:10.0.0.1')).toBe(true);
    expect(trusted.has('11.0.0.1')).toBe(false);
    expect(trusted.has('192.0.2.7')).toBe(true);
    expect(trusted.has('192.0.2.8')).toBe(false);
    expect(trusted.has('::1')).toBe(true);
    expect(trusted.has('not-an-address')).toBe(false);
    expect(TrustedProxies.none().has('127.0.0.1')).toBe(false);
  });

  it('stays right past the number of addresses whose answer it remembers', () => {
    const trusted = TrustedProxies.parse(['10.0.0.0/16']);
    for (let i = 0; i < 10_000; i++) expect(trusted.has(`10.${i % 2}.${(i >> 8) & 255}.${i & 255}`)).toBe(i % 2 === 0);
    expect(trusted.has('10.0.0.1')).toBe(true);
    expect(trusted.has('10.1.0.1')).toBe(false);
  });

  it('refuses an entry that is no address or block, quoting it', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x', '']) {
      expect(() => TrustedProxies.parse([bad])).toThrow(`trusted proxy "${bad}" is not an IPv4 or IPv6 address or CIDR block`);
    }
  });
});
