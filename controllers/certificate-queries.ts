/** The Route controller's SQL for platform.certificates (migrations/000024_platform_certificates.sql). */
import type { NamedQuery } from '../framework/index.js';

/** The certificate row of a host, whichever Route wrote it (no key material: the planner compares the rest). */
export const selectCertificate: NamedQuery = {
  name: 'platform.certificate_select',
  text: `select host, route, source, certificate, key_id as "keyId", fingerprint, not_before as "notBefore", not_after as "notAfter"
         from platform.certificates where host = $1`,
};

/** The hosts whose certificates a Route ($1) wrote. */
export const certificatesOfRoute: NamedQuery = {
  name: 'platform.certificates_of_route',
  text: `select host from platform.certificates where route = $1`,
};

/** Serves a host with a checked certificate and its sealed key; fenced ($10; 0 = single replica); unchanged writes nothing. */
export const upsertCertificate: NamedQuery = {
  name: 'platform.certificate_upsert',
  text: `insert into platform.certificates as c (host, route, source, certificate, sealed_key, key_id, fingerprint, not_before, not_after)
         select $1, $2, $3, $4, $5, $6, $7, $8, $9
         where tend.fenced($10::bigint)
         on conflict (host) do update
           set route = excluded.route, source = excluded.source, certificate = excluded.certificate, sealed_key = excluded.sealed_key,
               key_id = excluded.key_id, fingerprint = excluded.fingerprint, not_before = excluded.not_before,
               not_after = excluded.not_after, updated_at = now()
           where (c.route, c.source, c.certificate, c.key_id) is distinct from (excluded.route, excluded.source, excluded.certificate, excluded.key_id)`,
};

/** Stops serving a host over HTTPS, only if this Route ($2) gave its certificate; fenced ($3). */
export const deleteCertificate: NamedQuery = {
  name: 'platform.certificate_delete',
  text: `delete from platform.certificates where host = $1 and route = $2 and tend.fenced($3::bigint)`,
};
