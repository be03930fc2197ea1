/** The certificates key's SQL (migrations/000024_platform_certificates.sql). */
import type { NamedQuery } from '../framework/index.js';

/** Publishes the public half of a certificates key (the controllers' connection); idempotent. */
export const publishCertificatesKey: NamedQuery = {
  name: 'certificates.publish_key',
  text: `insert into platform.certificate_keys (key_id, public_key) values ($1, $2)
         on conflict (key_id) do update set published_at = now()`,
};

/** The key private keys are sealed to: the most recently published. */
export const currentCertificatesKey: NamedQuery = {
  name: 'certificates.current_key',
  text: `select key_id as "keyId", public_key as "publicKey" from platform.certificate_keys order by published_at desc, key_id limit 1`,
};
