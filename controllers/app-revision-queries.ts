import type { NamedQuery } from '../framework/index.js';

/** The revisions of the App with uid $1, newest number first (reconcilers/app-revisions.ts RevisionRow). */
export const revisionsOfApp: NamedQuery = {
  name: 'platform.app_revisions_of_app',
  text: `select revision, number, template, started_at as "startedAt", available_at as "availableAt",
                failed_generation::float8 as "failedGeneration", failure, rolled_back_to as "rolledBackTo"
         from platform.app_revisions where app_uid = $1 order by number desc`,
};

/**
 * Makes revision $3 of App $1 ($2 its key) the newest: inserted with the next number, or — seen
 * before — given the next number, a new start time and no failure (a new attempt); it keeps
 * `available_at`, since it did run fully once. $4 the template, $5 fence.
 */
export const recordRevision: NamedQuery = {
  name: 'platform.app_revision_record',
  text: `insert into platform.app_revisions (app_uid, app, revision, number, template)
         select $1, $2, $3, coalesce((select max(number) from platform.app_revisions where app_uid = $1), 0) + 1, $4::jsonb
         where tend.fenced($5::bigint)
         on conflict (app_uid, revision) do update
           set number = excluded.number, app = excluded.app, template = excluded.template, started_at = now(),
               failed_generation = null, failure = null, rolled_back_to = null`,
};

/**
 * Keeps the newest $2 revisions of App $1 by number, and the newest one that was fully available
 * (the one an automatic rollback returns to), however old. $3 fence.
 */
export const pruneRevisions: NamedQuery = {
  name: 'platform.app_revisions_prune',
  text: `delete from platform.app_revisions r
         where r.app_uid = $1
           and r.number <= (select max(number) from platform.app_revisions where app_uid = $1) - $2
           and r.revision is distinct from (select revision from platform.app_revisions
                                            where app_uid = $1 and available_at is not null order by number desc limit 1)
           and tend.fenced($3::bigint)`,
};

/** Revision $2 of App $1 was fully available (every replica ready) for the first time. $3 fence. */
export const markRevisionAvailable: NamedQuery = {
  name: 'platform.app_revision_available',
  text: `update platform.app_revisions set available_at = now()
         where app_uid = $1 and revision = $2 and available_at is null and tend.fenced($3::bigint)`,
};

/** Revision $2 of App $1 failed at generation $3 ($4 why): the App runs revision $5 until its spec changes. $6 fence. */
export const markRolledBack: NamedQuery = {
  name: 'platform.app_revision_rolled_back',
  text: `update platform.app_revisions set failed_generation = $3, failure = $4, rolled_back_to = $5
         where app_uid = $1 and revision = $2 and tend.fenced($6::bigint)`,
};

/** The App with uid $1 is gone: its history too. $2 fence. */
export const forgetRevisions: NamedQuery = {
  name: 'platform.app_revisions_forget',
  text: `delete from platform.app_revisions where app_uid = $1 and tend.fenced($2::bigint)`,
};
