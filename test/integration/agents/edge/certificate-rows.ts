/** Writes platform.certificates the way the Route controller does (sealed keys): the tests play that controller. */
import { X509Certificate } from 'node:crypto';
import { certificateKeyContext } from '../../../../certificates/certificates-key.js';
import type { IssuedCertificate } from '../../../../certificates/issuer.js';
import type { Queryable } from '../../../../framework/store/index.js';
import { seal, sealingKeyId } from '../../../../secrets/seal.js';

const upsert = {
  name: 'test.edge_upsert_certificate',
  text: `insert into platform.certificates (host, route, source, certificate, sealed_key, key_id, fingerprint, not_before, not_after)
         values ($1, $2, 'test', $3, $4, $5, $6, $7, $8)
         on conflict (host) do update set route = excluded.route, certificate = excluded.certificate, sealed_key = excluded.sealed_key,
           key_id = excluded.key_id, fingerprint = excluded.fingerprint, not_before = excluded.not_before, not_after = excluded.not_after`,
};
const remove = { name: 'test.edge_delete_certificate', text: 'delete from platform.certificates where host = $1' };

/** Serves `host` with `issued`, its key sealed to `publicKey` (for `sealedFor`, to test a key copied to another host). */
export async function setCertificate(store: Queryable, host: string, route: string, issued: IssuedCertificate, publicKey: string, sealedFor = host): Promise<string> {
  const leaf = new X509Certificate(issued.certificatePem);
  const fingerprint = leaf.fingerprint256.replace(/:/g, '').toLowerCase();
  await store.query(upsert, [
    host, route, issued.certificatePem, seal(issued.privateKeyPem, publicKey, certificateKeyContext(sealedFor)), sealingKeyId(publicKey),
    fingerprint, new Date(leaf.validFrom).toISOString(), new Date(leaf.validTo).toISOString(),
  ]);
  return fingerprint;
}

/** Stops serving `host` over HTTPS. */
export async function deleteCertificate(store: Queryable, host: string): Promise<void> {
  await store.query(remove, [host]);
}
