/** Writes platform.routing the way the Route controller will: the tests play that controller. */
import type { Backend, RateLimit } from '../../../../agents/edge/routing-table.js';
import type { Queryable } from '../../../../framework/store/index.js';

const upsert = {
  name: 'test.edge_upsert_route',
  text: `insert into platform.routing (host, path_prefix, route, backends, rate_limit) values ($1, $2, $3, $4::jsonb, $5::jsonb)
         on conflict (host, path_prefix) do update set route = excluded.route, backends = excluded.backends, rate_limit = excluded.rate_limit, updated_at = now()`,
};
const remove = { name: 'test.edge_delete_route', text: 'delete from platform.routing where host = $1 and path_prefix = $2' };
const version = { name: 'test.edge_routing_version', text: 'select version::text as version from platform.routing_version' };

/** Creates or replaces the row for `host` + `pathPrefix`, rate limited when `rateLimit` is given. */
export async function setRoute(store: Queryable, host: string, pathPrefix: string, route: string, backends: readonly Backend[], rateLimit?: RateLimit): Promise<void> {
  await store.query(upsert, [host, pathPrefix, route, JSON.stringify(backends), rateLimit ? JSON.stringify(rateLimit) : null]);
}

/** Deletes the row for `host` + `pathPrefix`. */
export async function deleteRoute(store: Queryable, host: string, pathPrefix: string): Promise<void> {
  await store.query(remove, [host, pathPrefix]);
}

/** platform.routing_version now. */
export async function routingVersion(store: Queryable): Promise<bigint> {
  const [row] = await store.query<{ version: string }>(version);
  return BigInt(row!.version);
}
