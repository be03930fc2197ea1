import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CertificateSnapshot } from '../../../../agents/edge/certificate-snapshot.js';

const row = { host: 'shop.test', route: 'ns/shop', certificate: 'PEM', sealedKey: 'tend-seal-v1.0123456789abcdef.xyz', keyId: '0123456789abcdef', fingerprint: 'f', notAfter: '2030-01-01T00:00:00Z' };

describe('CertificateSnapshot', () => {
  it('reads back what it wrote, from a file only its owner may read', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tend-cert-snap-')), 'edge', 'certificates.json');
    const snapshot = new CertificateSnapshot(file);
    expect(await snapshot.read()).toEqual({ kind: 'none' });
    await snapshot.write(7n, [row], new Date('2026-01-01T00:00:00Z'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await snapshot.read()).toEqual({ kind: 'table', version: 7n, certificates: [row], savedAt: new Date('2026-01-01T00:00:00Z') });
  });

  it('refuses a file of another format, or one that does not parse, saying why', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tend-cert-snap-')), 'certificates.json');
    writeFileSync(file, JSON.stringify({ format: 'tend.dev/routing-snapshot/v1', version: '1', savedAt: '2026-01-01T00:00:00Z', routes: [] }));
    expect(await new CertificateSnapshot(file).read()).toEqual({ kind: 'unusable', reason: 'format "tend.dev/routing-snapshot/v1" is not tend.dev/certificates-snapshot/v1' });
    writeFileSync(file, '{');
    expect(await new CertificateSnapshot(file).read()).toMatchObject({ kind: 'unusable' });
  });
});
