/**
 * The certificates key: an X25519 sealing key (secrets/seal.ts) whose private half the edges hold
 * (a 0600 file: `tend edge --certificates-key-file`, `tend up`'s `.tend/edge/certificates.key`)
 * and whose public half is published in PostgreSQL, where the Route controller finds it and seals
 * every certificate's private key to it. So the database, its backups and the controllers' role
 * hold private keys only sealed, and an edge's login alone (without the file) opens none of them.
 * Every edge of one database holds the same key: `tend edge keygen FILE` makes it once.
 */
import type { Queryable } from '../framework/index.js';
import { sealingKeyId, type SealingKey } from '../secrets/seal.js';
import { currentCertificatesKey, publishCertificatesKey } from './certificates-key-queries.js';

/** The certificates key's file name in an edge's state folder (tend up's default). */
export const CERTIFICATES_KEY_FILE = 'certificates.key';

/** The sealing context of a host's private key: a sealed key copied to another host's row does not open. */
export function certificateKeyContext(host: string): string {
  return `certificate ${host} key`;
}

/** Publishes the key's public half, so that the controllers seal to it; the controllers' connection. */
export async function publishCertificatesPublicKey(store: Queryable, key: SealingKey): Promise<string> {
  const keyId = sealingKeyId(key.publicKey);
  await store.query(publishCertificatesKey, [keyId, key.publicKey]);
  return keyId;
}

/** The published key private keys are sealed to now; undefined while none is. */
export async function currentCertificatesPublicKey(store: Queryable): Promise<{ keyId: string; publicKey: string } | undefined> {
  const [row] = await store.query<{ keyId: string; publicKey: string }>(currentCertificatesKey);
  return row;
}
