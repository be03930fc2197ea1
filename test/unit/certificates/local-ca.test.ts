import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IssuerError } from '../../../certificates/issuer.js';
import { LocalCa } from '../../../certificates/local-ca.js';

describe('LocalCa', () => {
  it('is made once in its folder (key 0600) and read back after, issuing leaves it signed for *.localhost only', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tend-ca-')), 'ca');
    const first = await LocalCa.loadOrCreate(dir);
    expect(first.made).toBe(true);
    expect(statSync(join(dir, 'ca.key')).mode & 0o777).toBe(0o600);
    const again = await LocalCa.loadOrCreate(dir);
    expect(again.made).toBe(false);
    expect(again.ca.certificatePem()).toBe(first.ca.certificatePem());

    const caCert = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    expect(caCert.ca).toBe(true);
    const leaf = new X509Certificate((await again.ca.issue('Hello.localhost', new Date())).certificatePem);
    expect(leaf.checkIssued(caCert)).toBe(true);
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe('DNS:hello.localhost');
    expect(leaf.ca).toBe(false);

    expect(again.ca.refuses('localhost')).toBeUndefined();
    expect(again.ca.refuses('a.b.localhost')).toBeUndefined();
    expect(again.ca.refuses('evillocalhost')).toMatch(/issues for localhost and \*\.localhost only/);
    await expect(again.ca.issue('shop.example', new Date())).rejects.toThrow(IssuerError);
  });

  it('refuses a CA key others may read', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tend-ca-')), 'ca');
    await LocalCa.loadOrCreate(dir);
    chmodSync(join(dir, 'ca.key'), 0o644);
    await expect(LocalCa.loadOrCreate(dir)).rejects.toThrow(/may be read by others \(mode 0644\)/);
  });
});
