import { mkdtempSync, chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadOrCreateSealingKey, loadSealingKey } from '../../../secrets/key-file.js';
import { SealError } from '../../../secrets/seal-error.js';
import { generateSealingKey, open, seal, sealingKeyFromPem, sealingKeyId, sealingKeyPem } from '../../../secrets/seal.js';

const alice = generateSealingKey();
const bob = generateSealingKey();

describe('seal and open', () => {
  it('any value sealed to a key opens with that key and context, byte for byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.string({ maxLength: 80 }), (value, context) => {
        const sealed = seal(value, alice.publicKey, context);
        expect(Buffer.compare(open(sealed, alice, context), Buffer.from(value))).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('the sealed text never contains the value, and two seals of one value differ', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 6, maxLength: 200 }), (value) => {
        const a = seal(value, alice.publicKey, 'c');
        const b = seal(value, alice.publicKey, 'c');
        expect(a).not.toContain(value);
        expect(a).not.toContain(Buffer.from(value).toString('base64url'));
        expect(a).not.toBe(b);
      }),
      { numRuns: 100 },
    );
  });

  it('another key does not open it, and the error names the keys, not the value', () => {
    const sealed = seal('hunter2-very-secret', alice.publicKey, 'instance x env');
    expect(() => open(sealed, bob, 'instance x env')).toThrow(SealError);
    expect(() => open(sealed, bob, 'instance x env')).toThrow(`sealed to key ${sealingKeyId(alice.publicKey)}, not to this key (${sealingKeyId(bob.publicKey)})`);
    // Even with the key id forged to bob's, bob's private key cannot derive alice's shared secret.
    const forged = sealed.replace(sealingKeyId(alice.publicKey), sealingKeyId(bob.publicKey));
    expect(() => open(forged, bob, 'instance x env')).toThrow(SealError);
    try {
      open(forged, bob, 'instance x env');
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('another context does not open it: a value moved to another instance or key stays shut', () => {
    const sealed = seal('v', alice.publicKey, 'instance a env');
    expect(() => open(sealed, alice, 'instance b env')).toThrow(SealError);
  });

  it('any changed byte of a sealed value makes it fail to open, never open to something else', () => {
    const sealed = seal('a value of some length to tamper with', alice.publicKey, 'ctx');
    const [version, kid, data] = sealed.split('.') as [string, string, string];
    const bytes = Buffer.from(data, 'base64url');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, flip) => {
        const changed = Buffer.from(bytes);
        changed[index]! ^= flip;
        expect(() => open(`${version}.${kid}.${changed.toString('base64url')}`, alice, 'ctx')).toThrow(SealError);
      }),
      { numRuns: 300 },
    );
    expect(() => open(`${version}.${kid}.${bytes.subarray(0, bytes.length - 1).toString('base64url')}`, alice, 'ctx')).toThrow(SealError);
    expect(() => open('plain text', alice, 'ctx')).toThrow(SealError);
  });

  it('a key survives its PEM form, and a non-X25519 key is refused', () => {
    const again = sealingKeyFromPem(sealingKeyPem(alice));
    expect(again.publicKey).toBe(alice.publicKey);
    expect(open(seal('x', alice.publicKey, 'c'), again, 'c').toString()).toBe('x');
    expect(() => seal('x', 'not-a-key', 'c')).toThrow(SealError);
    expect(() => sealingKeyFromPem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')).toThrow(SealError);
  });
});

describe('sealing key files', () => {
  it('are made 0600 once and read back; a key others may read is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tend-seal-'));
    const file = join(dir, 'sub', 'sealing.key');
    const made = loadOrCreateSealingKey(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700);
    expect(loadOrCreateSealingKey(file).publicKey).toBe(made.publicKey);
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    chmodSync(file, 0o644);
    expect(() => loadSealingKey(file)).toThrow(/may be read by others \(mode 0644\)/);
    const garbage = join(dir, 'garbage.key');
    writeFileSync(garbage, 'nonsense', { mode: 0o600 });
    expect(() => loadSealingKey(garbage)).toThrow(/is not usable/);
    expect(() => loadSealingKey(join(dir, 'missing.key'))).toThrow(/cannot read the sealing key .*ENOENT/);
  });
});
