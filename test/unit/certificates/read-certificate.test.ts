import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalCa } from '../../../certificates/local-ca.js';
import { readCertificate } from '../../../certificates/read-certificate.js';
import type { IssuedCertificate } from '../../../certificates/issuer.js';

const dir = mkdtempSync(join(tmpdir(), 'tend-read-cert-'));
let ca: LocalCa;
let shop: IssuedCertificate;
let blog: IssuedCertificate;

/** A self-signed certificate made by the openssl CLI, for what the local CA does not make (wildcards, encrypted keys). */
function openssl(name: string, san: string, keyArgs: string[] = ['-noenc']): { crt: string; key: string } {
  const [crt, key] = [join(dir, `${name}.crt`), join(dir, `${name}.key`)];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', ...keyArgs, '-keyout', key, '-out', crt, '-days', '30', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`], { stdio: 'ignore' });
  return { crt: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
}

beforeAll(async () => {
  ca = (await LocalCa.loadOrCreate(join(dir, 'ca'), { permitted: ['example'] })).ca;
  shop = await ca.issue('shop.example', new Date());
  blog = await ca.issue('blog.example', new Date());
});

describe('readCertificate', () => {
  it('accepts a certificate with its key for its host: facts, the chain re-encoded, the key as PKCS#8', () => {
    const found = readCertificate(`${shop.certificatePem}${ca.certificatePem()}`, shop.privateKeyPem, 'shop.example', 'secret ns/shop');
    if ('reason' in found) throw new Error(found.message);
    expect(found.facts.dnsNames).toEqual(['shop.example']);
    expect(found.facts.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(found.facts.notAfter.getTime() - found.facts.notBefore.getTime()).toBe(90 * 86_400_000 + 3600_000);
    expect(found.certificatePem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(found.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('matches a wildcard certificate to one label, as clients do', () => {
    const wild = openssl('wild', 'DNS:*.acme.example');
    expect(readCertificate(wild.crt, wild.key, 'shop.acme.example', 's')).toHaveProperty('facts.dnsNames', ['*.acme.example']);
    expect(readCertificate(wild.crt, wild.key, 'a.b.acme.example', 's')).toMatchObject({ reason: 'CertificateHostMismatch' });
    expect(readCertificate(wild.crt, wild.key, 'acme.example', 's')).toMatchObject({ reason: 'CertificateHostMismatch' });
  });

  it('refuses another host\'s certificate, naming what it is for', () => {
    expect(readCertificate(blog.certificatePem, blog.privateKeyPem, 'shop.example', 'secret ns/shop')).toEqual({
      reason: 'CertificateHostMismatch',
      message: 'secret ns/shop: the certificate is for blog.example, not shop.example',
    });
  });

  it('refuses a key that is not the certificate\'s', () => {
    expect(readCertificate(shop.certificatePem, blog.privateKeyPem, 'shop.example', 'secret ns/shop')).toEqual({
      reason: 'KeyMismatch',
      message: 'secret ns/shop: tls.key is not the private key of the certificate in tls.crt',
    });
  });

  it('refuses what does not parse, a chain out of order and an encrypted key, never quoting key material', () => {
    expect(readCertificate('hello', shop.privateKeyPem, 'shop.example', 's')).toMatchObject({ reason: 'InvalidCertificate', message: 's: tls.crt holds no PEM certificate' });
    const broken = shop.certificatePem.replace(/\n[A-Za-z0-9+/]{10}/, '\nAAAAAAAAAA');
    expect(readCertificate(broken, shop.privateKeyPem, 'shop.example', 's')).toMatchObject({ reason: 'InvalidCertificate' });
    expect(readCertificate(`${ca.certificatePem()}${shop.certificatePem}`, shop.privateKeyPem, 'shop.example', 's')).toMatchObject({
      reason: 'InvalidCertificate',
      message: 's: tls.crt certificate 2 did not issue certificate 1: the chain must go from the leaf up',
    });
    const locked = openssl('locked', 'DNS:shop.example', ['-passout', 'pass:secret']);
    const refused = readCertificate(locked.crt, locked.key, 'shop.example', 's');
    expect(refused).toMatchObject({ reason: 'InvalidCertificate' });
    expect((refused as { message: string }).message).toContain('an encrypted key must be decrypted first');
    const body = shop.privateKeyPem.split('\n')[1]!;
    for (const key of [shop.privateKeyPem, 'garbage']) expect(JSON.stringify(readCertificate('x', key, 'shop.example', 's'))).not.toContain(body);
  });
});
