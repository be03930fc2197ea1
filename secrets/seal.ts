/**
 * @module
 * Sealing: encrypting a value to the holder of one X25519 key, so that whoever stores or passes
 * it on (PostgreSQL, the controllers' journal, a backup of the database) holds ciphertext only.
 *
 * Design notes. Each seal makes a fresh (ephemeral) X25519 key pair, agrees a shared secret with
 * the recipient's public key, and derives an AES-256-GCM key from it with HKDF-SHA256 (salt: both
 * public keys; info: the context) — the construction of HPKE's base mode and of libsodium's
 * sealed boxes, from node:crypto alone. The context names what the value is for (`instance ID
 * env`, `secret NS/NAME key KEY`): it is bound into the key and the authenticated data, so a
 * sealed value copied to another row, instance or key does not open. A sealed value is
 *
 *   tend-seal-v1.<key id>.<base64url: ephemeral public key (32) | nonce (12) | ciphertext | tag (16)>
 *
 * where the key id (16 hex digits of the SHA-256 of the recipient's public key) says which key
 * can open it, so an error can say "sealed to another key" without trying. Opening fails with a
 * SealError for a wrong key, another context or any changed byte (GCM's tag), never with a
 * partial value.
 *
 * ```ts
 * const node = generateSealingKey();                  // the private key stays on its host
 * const sealed = seal('hunter2', node.publicKey, 'instance web-1 env');
 * open(sealed, node, 'instance web-1 env').toString(); // 'hunter2'
 * ```
 */
import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { SealError } from './seal-error.js';

const VERSION = 'tend-seal-v1';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A recipient's key pair. `publicKey` is the raw 32-byte X25519 key, base64url: what gets published. */
export interface SealingKey {
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

/** A new key pair. */
export function generateSealingKey(): SealingKey {
  const { privateKey } = generateKeyPairSync('x25519');
  return fromPrivateKey(privateKey);
}

/** The key pair of a PKCS#8 PEM private key (as written by `sealingKeyPem`). */
export function sealingKeyFromPem(pem: string): SealingKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new SealError(`not a PEM private key: ${(err as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'x25519') throw new SealError(`not an X25519 key but ${privateKey.asymmetricKeyType ?? 'a symmetric key'}`);
  return fromPrivateKey(privateKey);
}

/** The private key as PKCS#8 PEM, for a 0600 file. */
export function sealingKeyPem(key: SealingKey): string {
  return key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** The id of a public key: 16 hex digits of its SHA-256, named in sealed values and errors. */
export function sealingKeyId(publicKey: string): string {
  return createHash('sha256').update(rawPublicKey(publicKey)).digest('hex').slice(0, 16);
}

/** Seals `plaintext` to the holder of `recipient` (a published public key) for `context`. */
export function seal(plaintext: string | Uint8Array, recipient: string, context: string): string {
  const recipientRaw = rawPublicKey(recipient);
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralRaw = Buffer.from(jwkX(ephemeral.publicKey), 'base64url');
  const kid = sealingKeyId(recipient);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: importPublicKey(recipientRaw) });
  const key = derive(shared, ephemeralRaw, recipientRaw, context);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad(kid, context));
  const body = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final()]);
  return `${VERSION}.${kid}.${Buffer.concat([ephemeralRaw, nonce, body, cipher.getAuthTag()]).toString('base64url')}`;
}

/** Opens a sealed value with `key` for `context`; a SealError when it is not exactly what was sealed to this key for this context. */
export function open(sealed: string, key: SealingKey, context: string): Buffer {
  const parts = typeof sealed === 'string' ? sealed.split('.') : [];
  if (parts.length !== 3 || parts[0] !== VERSION || !/^[0-9a-f]{16}$/.test(parts[1]!) || !/^[A-Za-z0-9_-]+$/.test(parts[2]!)) {
    throw new SealError(`not a sealed value (expected ${VERSION}.<key id>.<data>)`);
  }
  const kid = parts[1]!;
  const own = sealingKeyId(key.publicKey);
  if (kid !== own) throw new SealError(`sealed to key ${kid}, not to this key (${own})`);
  const data = Buffer.from(parts[2]!, 'base64url');
  if (data.length < KEY_BYTES + NONCE_BYTES + TAG_BYTES) throw new SealError('sealed value too short');
  const ephemeralRaw = data.subarray(0, KEY_BYTES);
  const nonce = data.subarray(KEY_BYTES, KEY_BYTES + NONCE_BYTES);
  const body = data.subarray(KEY_BYTES + NONCE_BYTES, data.length - TAG_BYTES);
  const tag = data.subarray(data.length - TAG_BYTES);
  try {
    const shared = diffieHellman({ privateKey: key.privateKey, publicKey: importPublicKey(ephemeralRaw) });
    const decipher = createDecipheriv('aes-256-gcm', derive(shared, ephemeralRaw, rawPublicKey(key.publicKey), context), nonce);
    decipher.setAAD(aad(kid, context));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    // GCM says only "unable to authenticate": the wrong context, or a changed byte.
    throw new SealError(`sealed value does not open with key ${own} for ${context}: changed, or sealed for something else`);
  }
}

function fromPrivateKey(privateKey: KeyObject): SealingKey {
  return { privateKey, publicKey: jwkX(createPublicKey(privateKey)) };
}

function jwkX(publicKey: KeyObject): string {
  return publicKey.export({ format: 'jwk' }).x!;
}

function rawPublicKey(publicKey: string): Buffer {
  const raw = /^[A-Za-z0-9_-]{43}$/.test(publicKey) ? Buffer.from(publicKey, 'base64url') : Buffer.alloc(0);
  if (raw.length !== KEY_BYTES) throw new SealError('not an X25519 public key (32 bytes, base64url)');
  return raw;
}

function importPublicKey(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function derive(shared: Buffer, ephemeralRaw: Buffer, recipientRaw: Buffer, context: string): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeralRaw, recipientRaw]), `${VERSION} ${context}`, KEY_BYTES));
}

function aad(kid: string, context: string): Buffer {
  return Buffer.from(`${VERSION}\u0000${kid}\u0000${context}`, 'utf8');
}
