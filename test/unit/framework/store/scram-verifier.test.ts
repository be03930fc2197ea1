import { describe, expect, it } from 'vitest';
import { generatePassword, scramSha256Verifier } from '../../../../framework/store/scram-verifier.js';

describe('scramSha256Verifier', () => {
  it('gives the verifier PostgreSQL stores for the password of RFC 7677 (computed independently with Python hashlib)', () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    expect(scramSha256Verifier('pencil', { salt })).toBe(
      'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=',
    );
  });

  it('salts every verifier afresh, so one password gives two different verifiers', () => {
    expect(scramSha256Verifier('pencil')).not.toBe(scramSha256Verifier('pencil'));
  });

  it('refuses passwords outside printable ASCII, which would need SASLprep', () => {
    expect(() => scramSha256Verifier('pässword')).toThrow(/printable ASCII/);
    expect(() => scramSha256Verifier('two words')).toThrow(/printable ASCII/);
  });

  it('generates 256-bit URL-safe passwords it can hash', () => {
    const password = generatePassword();
    expect(password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(() => scramSha256Verifier(password)).not.toThrow();
  });
});
