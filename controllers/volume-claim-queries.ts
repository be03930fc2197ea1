/** The SQL of volume claims (platform.volume_claims, migrations/000023_platform_volume_claims.sql). */
import type { NamedQuery } from '../framework/index.js';

/** The claims on volumes $1 (namespace/name each). */
export const claimsOfVolumes: NamedQuery = {
  name: 'platform.volume_claims_select',
  text: `select volume, app from platform.volume_claims where volume = any($1::text[])`,
};

/**
 * Serialises claims across replicas (taken first in the claim's transaction), so an App that
 * mounts several volumes claims them all or none, whatever other Apps claim at the same time.
 */
export const lockVolumeClaims: NamedQuery = {
  name: 'platform.volume_claims_lock',
  text: `select pg_advisory_xact_lock(hashtextextended('platform.volume_claims', 0))`,
};

/** App $2 claims volumes $1 (after lockVolumeClaims and a fresh read found them free). */
export const insertVolumeClaims: NamedQuery = {
  name: 'platform.volume_claims_insert',
  text: `insert into platform.volume_claims (volume, app) select unnest($1::text[]), $2 on conflict (volume) do nothing`,
};

/**
 * App $1 lets go of its claims on volumes other than $2 (those it mounts now) once no instance
 * of it mounts them — one statement, so an instance placed meanwhile keeps the claim. Fenced ($3).
 * Returns the volumes let go.
 */
export const releaseVolumeClaims: NamedQuery = {
  name: 'platform.volume_claims_release',
  text: `delete from platform.volume_claims c
         where c.app = $1 and c.volume <> all($2::text[])
           and not exists (select 1 from platform.instances i
                           where i.app = c.app and i.spec -> 'volumes' @> jsonb_build_array(jsonb_build_object('volume', c.volume)))
           and tend.fenced($3::bigint)
         returning c.volume`,
};

/** The Apps holding claims (the orphan sweep looks for those that are gone). */
export const appsWithVolumeClaims: NamedQuery = {
  name: 'platform.apps_with_volume_claims',
  text: `select distinct app from platform.volume_claims`,
};
