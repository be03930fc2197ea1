/**
 * The App controller's side of revision history and automatic rollback: reads the App's rows in
 * platform.app_revisions, writes what reconcilers/app-revisions.ts decides (each write fenced, and
 * only on a change: a new revision, a first full availability, a rollback), and hands back the
 * App to plan — the spec's, or the revision rolled back to.
 */
import type { App } from '../api/types/app.js';
import type { EventRecorder, ReconcileContext, Store } from '../framework/index.js';
import type { AppInstance } from '../reconcilers/app.js';
import { REVISION_HISTORY_LIMIT, planRevisions, revisionTemplateOf, withTemplate, type RevisionRow } from '../reconcilers/app-revisions.js';
import { forgetRevisions, markRevisionAvailable, markRolledBack, pruneRevisions, recordRevision, revisionsOfApp } from './app-revision-queries.js';

/** What one reconcile plans with. */
export interface RevisionView {
  /** The App as it runs: its spec, or the template of the revision an automatic rollback returned to. */
  readonly app: App;
  readonly rolledBack?: { readonly failed: string; readonly why: string };
  readonly history: readonly RevisionRow[];
}

/** Reads the history, records the spec's revision when it is new, and decides or keeps a rollback. */
export async function revisionView(store: Store, recorder: EventRecorder, ctx: ReconcileContext, app: App, specRevision: string, instances: readonly AppInstance[]): Promise<RevisionView> {
  const uid = app.metadata.uid!;
  const fence = String(ctx.fence);
  const key = `${app.metadata.namespace}/${app.metadata.name}`;
  let history = await store.query<RevisionRow>(revisionsOfApp, [uid]);
  const plan = planRevisions(app, specRevision, history, instances, ctx.now());
  if (plan.record) {
    await store.query(recordRevision, [uid, key, specRevision, JSON.stringify(revisionTemplateOf(app)), fence]);
    await store.query(pruneRevisions, [uid, REVISION_HISTORY_LIMIT, fence]);
    history = await store.query<RevisionRow>(revisionsOfApp, [uid]);
  }
  const rollback = plan.rollback;
  if (!rollback) return { app, history };
  if (rollback.now) {
    await store.query(markRolledBack, [uid, rollback.failed, app.metadata.generation ?? 0, rollback.why, rollback.to.revision, fence]);
    ctx.log.warn({ failed: rollback.failed, to: rollback.to.revision, why: rollback.why }, 'rollout failed: rolling back');
    recorder.record(app, 'Warning', 'RolledBack', `revision ${rollback.failed} failed (${rollback.why}); rolling back to revision ${rollback.to.revision}`);
  }
  return { app: withTemplate(app, rollback.to.template), rolledBack: { failed: rollback.failed, why: rollback.why }, history };
}

/** Every replica of `revision` is ready and nothing else runs: remembered once, as the revision a rollback may return to. */
export async function revisionAvailable(store: Store, ctx: ReconcileContext, app: App, revision: string, history: readonly RevisionRow[]): Promise<void> {
  const row = history.find((r) => r.revision === revision);
  if (row && !row.availableAt) await store.query(markRevisionAvailable, [app.metadata.uid!, revision, String(ctx.fence)]);
}

/** The App is gone: so is its history. */
export async function forgetAppRevisions(store: Store, ctx: ReconcileContext, app: App): Promise<void> {
  if (app.metadata.uid) await store.query(forgetRevisions, [app.metadata.uid, String(ctx.fence)]);
}
