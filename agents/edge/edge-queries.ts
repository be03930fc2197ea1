/** The edge's SQL: it only reads the routing table and the certificates the Route controller writes. */
import type { NamedQuery } from '../../framework/index.js';

/**
 * The whole table and its version in one statement, so both come from one snapshot: the version
 * served is exactly the version of the rows served (two statements could straddle a change).
 * Returns one row: `{ version: '42', routes: [{ host, pathPrefix, route, backends, suspended }] }`.
 */
export const loadRouting: NamedQuery = {
  name: 'edge.load_routing',
  text: `select v.version::text as version,
                coalesce((select jsonb_agg(jsonb_build_object('host', r.host, 'pathPrefix', r.path_prefix,
                                                              'route', r.route, 'backends', r.backends,
                                                              'suspended', r.suspended, 'httpsRedirect', r.https_redirect))
                          from platform.routing r), '[]'::jsonb) as routes
         from platform.routing_version v`,
};

/** The current version alone: the cheap periodic check that heals a lost notification. */
export const routingVersion: NamedQuery = {
  name: 'edge.routing_version',
  text: 'select version::text as version from platform.routing_version',
};

/**
 * Every certificate and the version, in one statement (as loadRouting). Returns one row:
 * `{ version: '7', certificates: [{ host, route, certificate, sealedKey, keyId, fingerprint, notAfter }] }`.
 */
export const loadCertificates: NamedQuery = {
  name: 'edge.load_certificates',
  text: `select v.version::text as version,
                coalesce((select jsonb_agg(jsonb_build_object('host', c.host, 'route', c.route, 'certificate', c.certificate,
                                                              'sealedKey', c.sealed_key, 'keyId', c.key_id,
                                                              'fingerprint', c.fingerprint, 'notAfter', c.not_after))
                          from platform.certificates c), '[]'::jsonb) as certificates
         from platform.certificates_version v`,
};

/** The certificates' version alone: the periodic check that heals a lost notification. */
export const certificatesVersion: NamedQuery = {
  name: 'edge.certificates_version',
  text: 'select version::text as version from platform.certificates_version',
};
