/**
 * SCRAM-SHA-256 verifiers (RFC 5802, RFC 7677) in the form PostgreSQL stores in pg_authid:
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. Given to `create role … password`
 * instead of the password, so the password itself never reaches the server — not its logs, not
 * pg_stat_statements — and the server can still check it.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** PostgreSQL's own default (scram_iterations). */
export const SCRAM_ITERATIONS = 4096;

// SASLprep (RFC 4013) is the identity on printable ASCII; tend only ever hashes passwords it made
// from that alphabet, so it refuses anything else rather than implement the full profile.
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/** The verifier of `password`, with a fresh 16-byte salt unless one is given (tests). */
export function scramSha256Verifier(password: string, options: { readonly salt?: Buffer; readonly iterations?: number } = {}): string {
  if (!PRINTABLE_ASCII.test(password)) throw new TypeError('scramSha256Verifier: the password must be printable ASCII without spaces');
  const salt = options.salt ?? randomBytes(16);
  const iterations = options.iterations ?? SCRAM_ITERATIONS;
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** A password of 32 random bytes, URL-safe base64 (no characters that need quoting in a URL). */
export function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}
