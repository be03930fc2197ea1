import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CertificateTable, type CertificateRow } from '../../../../agents/edge/certificate-table.js';
import { certificateKeyContext } from '../../../../certificates/certificates-key.js';
import { LocalCa } from '../../../../certificates/local-ca.js';
import { generateSealingKey, seal, sealingKeyId } from '../../../../secrets/seal.js';

const key = generateSealingKey();
const keyId = sealingKeyId(key.publicKey);
let rows: Record<string, CertificateRow>;

beforeAll(async () => {
  const { ca } = await LocalCa.loadOrCreate(join(mkdtempSync(join(tmpdir(), 'tend-sni-')), 'ca'), { permitted: ['example'] });
  rows = {};
  for (const host of ['shop.example', 'blog.example']) {
    const issued = await ca.issue(host, new Date());
    rows[host] = { host, route: `ns/${host.split('.')[0]}`, certificate: issued.certificatePem, sealedKey: seal(issued.privateKeyPem, key.publicKey, certificateKeyContext(host)), keyId, fingerprint: host, notAfter: '2030-01-01T00:00:00Z' };
  }
});

describe('CertificateTable', () => {
  it('serves each host its own context, by exact name in any case, and none for an unknown host', () => {
    const table = CertificateTable.build(3n, Object.values(rows), key, CertificateTable.empty());
    expect(table.problems).toEqual([]);
    expect(table.size).toBe(2);
    expect(table.context('SHOP.example.')).toBe(table.entry('shop.example')!.context);
    expect(table.context('shop.example')).not.toBe(table.context('blog.example'));
    expect(table.context('other.example')).toBeUndefined();
    expect(table.context('x.shop.example')).toBeUndefined();
  });

  it('keeps the contexts of unchanged rows from the table before, and builds a new one for a changed row', () => {
    const first = CertificateTable.build(1n, Object.values(rows), key, CertificateTable.empty());
    const blog = { ...rows['blog.example']!, fingerprint: 'renewed' };
    const second = CertificateTable.build(2n, [rows['shop.example']!, blog], key, first);
    expect(second.context('shop.example')).toBe(first.context('shop.example'));
    expect(second.context('blog.example')).not.toBe(first.context('blog.example'));
  });

  it('leaves out a row it cannot open — another key, another host\'s sealed key, no key — and says why without key material', () => {
    const other = generateSealingKey();
    const swapped = { ...rows['shop.example']!, sealedKey: (rows['blog.example'] as { sealedKey: string }).sealedKey };
    const table = CertificateTable.build(4n, [swapped, rows['blog.example']!], other, CertificateTable.empty());
    expect(table.size).toBe(0);
    expect(table.problems[0]).toBe(`certificate of shop.example (route ns/shop): its key is sealed to certificates key ${keyId}, this edge holds ${sealingKeyId(other.publicKey)}; shop.example gets no TLS handshake`);
    const mixed = CertificateTable.build(5n, [swapped, rows['blog.example']!], key, CertificateTable.empty());
    expect(mixed.context('shop.example')).toBeUndefined();
    expect(mixed.context('blog.example')).toBeDefined();
    expect(mixed.problems).toEqual([expect.stringMatching(/^certificate of shop\.example \(route ns\/shop\): sealed value does not open with key .* for certificate shop\.example key: changed, or sealed for something else; shop\.example gets no TLS handshake$/)]);
    expect(CertificateTable.build(6n, [rows['blog.example']!], undefined, CertificateTable.empty()).problems[0]).toMatch(/this edge has no certificates key/);
  });
});
