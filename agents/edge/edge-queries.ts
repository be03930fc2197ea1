/**
 * The edge's SQL: it reads the routing table and the certificates the Route controller writes, and
 * writes only its own rows of platform.edge_members (rate limit shares).
 */
import type { NamedQuery } from '../../framework/index.js';

/**
 * The whole table and its version in one statement, so both come from one snapshot: the version
 * served is exactly the version of the rows served (two statements could straddle a change).
 * Returns one row: `{ version: '42', routes: [{ host, pathPrefix, route, backends, suspended, httpsRedirect, rateLimit }] }`.
 */
export const loadRouting: NamedQuery = {
  name: 'edge.load_routing',
  text: `select v.version::text as version,
                coalesce((select jsonb_agg(jsonb_build_object('host', r.host, 'pathPrefix', r.path_prefix,
                                                              'route', r.route, 'backends', r.backends,
                                                              'suspended', r.suspended, 'httpsRedirect', r.https_redirect,
                                                              'rateLimit', r.rate_limit))
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

/**
 * Joins the edge processes (migrations/000026): live until now + $2 ms unless renewed; `edge`
 * is filled in from the login. $1: a name for people, $3: demand (jsonb).
 */
export const joinEdgeMembers: NamedQuery = {
  name: 'edge.members_join',
  text: `insert into platform.edge_members (name, expires_at, demand)
         values ($1, now() + $2 * interval '1 millisecond', $3::jsonb)
         returning id::text as id`,
};

/**
 * One heartbeat in one statement: renews member $1 until now + $2 ms with its demand $3, and
 * returns whether it was still live (false: it expired, paused or cut off; join again) and the
 * demand of every other live member. The read sees the table as it was before the renewal,
 * which leaves out only this member's own row.
 */
export const heartbeatEdgeMember: NamedQuery = {
  name: 'edge.members_heartbeat',
  text: `with renewed as (
           update platform.edge_members set heartbeat_at = now(), expires_at = now() + $2 * interval '1 millisecond', demand = $3::jsonb
           where id = $1::bigint and expires_at > now()
           returning id)
         select exists (select 1 from renewed) as renewed,
                coalesce((select json_agg(m.demand) from platform.edge_members m
                          where m.expires_at > now() and m.id <> $1::bigint), '[]'::json) as others`,
};

/** A graceful leave: the others take this member's share at their next heartbeat. */
export const leaveEdgeMembers: NamedQuery = {
  name: 'edge.members_leave',
  text: 'delete from platform.edge_members where id = $1::bigint',
};

/** Housekeeping by any edge: rows of processes long gone. */
export const reapEdgeMembers: NamedQuery = {
  name: 'edge.members_reap',
  text: `delete from platform.edge_members where expires_at < now() - interval '10 minutes'`,
};
