import { describe, expect, it } from 'vitest';
import { secretFromManifest } from '../../../secrets/manifest-secret.js';
import { admitStoredSecret } from '../../../secrets/postgres-secrets.js';
import { generateSealingKey, seal } from '../../../secrets/seal.js';
import type { SecretObject } from '../../../secrets/secret-object.js';

describe('a v1 Secret from YAML', () => {
  it('decodes data, merges stringData over it, and takes the default namespace', () => {
    const secret = secretFromManifest({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, data: { user: Buffer.from('app').toString('base64'), password: 'b2xk' }, stringData: { password: 'new' } }, 'acme');
    expect(secret.namespace).toBe('acme');
    expect(secret.type).toBe('Opaque');
    expect(Object.fromEntries([...secret.values].map(([k, v]) => [k, v.toString()]))).toEqual({ user: 'app', password: 'new' });
  });

  it('names the field, never the value, when it is not a valid Secret', () => {
    expect(() => secretFromManifest({ metadata: { name: 'db' }, data: { password: 'not base64!!' } }, 'd')).toThrow('data[password]: Invalid value: not base64');
    expect(() => secretFromManifest({ metadata: { name: 'db' }, stringData: { 'bad key': 'hunter2' } }, 'd')).toThrow(/^stringData\[bad key\]: Invalid value/);
    expect(() => secretFromManifest({ metadata: { name: 'Db' } }, 'd')).toThrow(/metadata.name: Invalid value/);
    expect(() => secretFromManifest({ metadata: { name: 'db' }, stringData: { big: 'x'.repeat(1024 * 1024 + 1) } }, 'd')).toThrow('data: Too long');
  });
});

describe('admission of a Secret stored by tend', () => {
  const key = generateSealingKey();
  const stored = (data: Record<string, string>): SecretObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'acme' }, spec: { type: 'Opaque', data } });

  it('takes sealed values and refuses a value in clear, so none can be stored by mistake', () => {
    expect(admitStoredSecret(stored({ password: seal('x', key.publicKey, 'c') }), undefined).spec!.data.password).toMatch(/^tend-seal-v1\./);
    expect(() => admitStoredSecret(stored({ password: 'hunter2' }), undefined)).toThrow('spec.data[password]: Invalid value: not a sealed value');
    try {
      admitStoredSecret(stored({ password: 'hunter2' }), undefined);
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});

describe('a Secret value as an environment variable', () => {
  it('is refused, naming the key and never the value, when it holds a NUL byte or more than 32768 bytes', async () => {
    const { envValue } = await import('../../../secrets/secret-backend.js');
    expect(envValue('acme', 'db', 'k', Buffer.from('fine'))).toEqual({ value: 'fine' });
    expect(envValue('acme', 'db', 'k', Buffer.from('a\0b'))).toEqual({ problem: 'secret acme/db key k holds a NUL byte, which an environment variable cannot carry' });
    expect(envValue('acme', 'db', 'k', Buffer.alloc(32_769, 'x'))).toEqual({ problem: 'secret acme/db key k holds 32769 bytes; a variable from a Secret holds at most 32768' });
  });
});
