/** Writes platform.routing the way the Route controller will: the tests play that controller. */
import type { Backend } from '../../../../agents/edge/routing-table.js';
import type { Queryable } from '../../../../framework/store/index.js';

const upsert = {
  name: 'test.edge_upsert_route',
  text: `insert into platform.routing (host, path_prefix, route, backends) values ($1, $2, $3, $4::jsonb)
         on conflict (host, path_prefix) do update set route = excluded.route, backends = excluded.backends, updated_at = now()`,
};
const remove = { name: 'test.edge_delete_route', text: 'delete from platform.routing where host = $1 and path_prefix = $2' };
const version = { name: 'test.edge_routing_version', text: 'select version::text as version from platform.routing_version' };

/** Creates or replaces the row for `host` + `pathPrefix`. */
export async function setRoute(store: Queryable, host: string, pathPrefix: string, route: string, backends: readonly Backend[]): Promise<void> {
  await store.query(upsert, [host, pathPrefix, route, JSON.stringify(backends)]);
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
