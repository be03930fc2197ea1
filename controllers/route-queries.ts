import type { NamedQuery } from '../framework/index.js';

/**
 * The App's healthy backends: ready, running instances on nodes that are not lost. When every
 * such instance sits on a lost node, those instead: a lost node means a silent agent, not
 * necessarily dead instances (an agent restarting, a partition between the node and PostgreSQL),
 * and routing to nothing is a sure outage. Envoy's panic threshold makes the same choice; the
 * edge's own checks eject backends that really are gone, and the App replaces them after its grace.
 */
export const backendsOfApp: NamedQuery = {
  name: 'platform.backends_of_app',
  text: `with candidates as (
           select n.address, i.port, i.id as instance, n.lost_since is null as live
           from platform.instances i join platform.nodes n on n.name = i.node
           where i.app = $1 and i.desired = 'running' and i.ready
             and i.port is not null and n.address is not null)
         select address, port, instance from candidates
         where live or not exists (select 1 from candidates where live)
         order by instance`,
};

/** What the edges serve for a host and path prefix now, and which Route wrote it. */
export const selectRouting: NamedQuery = {
  name: 'platform.routing_select',
  text: `select route, backends, suspended, https_redirect as "httpsRedirect", rate_limit as "rateLimit"
         from platform.routing where host = $1 and path_prefix = $2`,
};

/**
 * Serves the Route's host + prefix with `backends` ($4, jsonb), or as suspended ($6), redirecting
 * plain HTTP ($7), limited to $8 (jsonb `{requestsPerSecond, burst}`, null: unlimited); fenced ($5; 0 = single replica).
 */
export const upsertRouting: NamedQuery = {
  name: 'platform.routing_upsert',
  text: `insert into platform.routing as r (host, path_prefix, route, backends, suspended, https_redirect, rate_limit)
         select $1, $2, $3, $4::jsonb, $6, $7, $8::jsonb
         where tend.fenced($5::bigint)
         on conflict (host, path_prefix) do update
           set route = excluded.route, backends = excluded.backends, suspended = excluded.suspended,
               https_redirect = excluded.https_redirect, rate_limit = excluded.rate_limit, updated_at = now()
           where (r.route, r.backends, r.suspended, r.https_redirect, r.rate_limit)
                 is distinct from (excluded.route, excluded.backends, excluded.suspended, excluded.https_redirect, excluded.rate_limit)`,
};

/** Stops serving the host + prefix, only if this Route ($3) is the one serving it; fenced ($4). */
export const deleteRouting: NamedQuery = {
  name: 'platform.routing_delete',
  text: `delete from platform.routing
         where host = $1 and path_prefix = $2 and route = $3
           and tend.fenced($4::bigint)`,
};

/** Where a Route is served now (its current host and prefix, and any it had before a change). */
export const routingOfRoute: NamedQuery = {
  name: 'platform.routing_of_route',
  text: `select host, path_prefix as "pathPrefix" from platform.routing where route = $1`,
};
