/**
 * Sealing keys kept in files: made once (0600, created exclusively so two starts never make two
 * keys), read back on every start, and refused when others may read them — a key that was ever
 * world-readable is not a secret any more.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { SealError } from './seal-error.js';
import { generateSealingKey, sealingKeyFromPem, sealingKeyPem, type SealingKey } from './seal.js';

/** The key in `file`, made there first when it does not exist. */
export function loadOrCreateSealingKey(file: string): SealingKey {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      const key = generateSealingKey();
      writeSync(fd, sealingKeyPem(key));
      return key;
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return loadSealingKey(file);
}

/** The key in `file`; a SealError when the file is missing, readable by others or not a key. */
export function loadSealingKey(file: string): SealingKey {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY);
  } catch (err) {
    throw new SealError(`cannot read the sealing key ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) throw new SealError(`the sealing key ${file} may be read by others (mode ${mode.toString(8).padStart(4, '0')}): make a new one, or chmod 600 it if nobody else could have read it`);
    try {
      return sealingKeyFromPem(readFileSync(fd, 'utf8'));
    } catch (err) {
      throw new SealError(`the sealing key ${file} is not usable: ${(err as Error).message}`);
    }
  } finally {
    closeSync(fd);
  }
}
