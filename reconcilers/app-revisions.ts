/**
 * An App's revision history and automatic rollback (spec.rollout.autoRollback). Pure: the App,
 * its instances and its rows in platform.app_revisions → what to record and which revision the
 * App runs. controllers/app.ts writes what this decides; `tend rollout` reads the same rows.
 *
 * Design notes
 * - A revision's template is the App spec fields its hash covers, so `withTemplate` gives the App
 *   as if its spec said that revision: planning a rollback is planning that App, and `tend
 *   rollout undo` writes those fields back.
 * - The controller never writes spec (Argo CD would show drift and put it back): a rollback is a
 *   mark on the failed revision's row, for the App's generation then. It holds while the
 *   generation is the same, so any change of the spec (even back to the failed revision) starts a
 *   rollout again.
 * - A rollout fails when its instances pass progressDeadlineSeconds unready, one is restarted
 *   CRASH_LOOP_ROLLBACK_EXITS times unready, or one is refused by its node. Only a revision that
 *   was never fully available rolls back: a revision that ran and later crashes is not a rollout.
 */
import type { App, AppSpec } from '../api/types/app.js';
import type { AppInstance } from './app.js';
import { CRASH_LOOP_ROLLBACK_EXITS, crashLooping, describeCrashLoop, restartCount } from './crash-loop.js';

/** The spec fields a revision is made of (templateOf hashes them). */
export const TEMPLATE_FIELDS = ['command', 'args', 'env', 'image', 'port', 'resources', 'healthCheck', 'volumes'] as const;

/** What one revision ran: those fields of the spec, as they were. */
export type RevisionTemplate = Partial<Pick<AppSpec, (typeof TEMPLATE_FIELDS)[number]>>;

/** The revisions the history keeps: the newest this many by number, and the newest available one. */
export const REVISION_HISTORY_LIMIT = 10;

/** One row of platform.app_revisions. */
export interface RevisionRow {
  readonly revision: string;
  readonly number: number;
  readonly template: RevisionTemplate;
  readonly startedAt: Date;
  readonly availableAt: Date | null;
  readonly failedGeneration: number | null;
  readonly failure: string | null;
  readonly rolledBackTo: string | null;
}

/** The template fields of `app`'s spec (absent ones left out). */
export function revisionTemplateOf(app: App): RevisionTemplate {
  const spec = (app.spec ?? {}) as Record<string, unknown>;
  return Object.fromEntries(TEMPLATE_FIELDS.filter((f) => spec[f] !== undefined).map((f) => [f, spec[f]])) as RevisionTemplate;
}

/** `app` as if its spec ran `template`: its other fields (replicas, rollout, placement) kept, template fields replaced or removed. */
export function withTemplate(app: App, template: RevisionTemplate): App {
  const rest = Object.fromEntries(Object.entries(app.spec ?? {}).filter(([k]) => !(TEMPLATE_FIELDS as readonly string[]).includes(k)));
  return { ...app, spec: { ...rest, ...template } as AppSpec };
}

/** Whether two templates are the same by value (jsonb gives keys back in its own order). */
export function sameTemplate(a: RevisionTemplate, b: RevisionTemplate): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** An automatic rollback in force: the spec's revision failed, the App runs `to` instead. */
export interface Rollback {
  readonly failed: string;
  readonly why: string;
  readonly to: RevisionRow;
  /** Decided by this reconcile: the controller marks the failed revision's row. */
  readonly now: boolean;
}

export interface RevisionPlan {
  /** The spec's revision is not the newest of the history: record it (insert, or give it the next number). */
  readonly record: boolean;
  readonly rollback?: Rollback;
}

/**
 * What the history says for this reconcile: whether to record the spec's revision, and the
 * rollback in force or decided now. `specRevision` is templateOf(app)'s revision; `instances` are
 * the App's, as planApp gets them.
 */
export function planRevisions(app: App, specRevision: string, history: readonly RevisionRow[], instances: readonly AppInstance[], now: Date): RevisionPlan {
  const newest = history.reduce<RevisionRow | undefined>((a, r) => (!a || r.number > a.number ? r : a), undefined);
  const record = newest?.revision !== specRevision;
  const generation = app.metadata.generation ?? 0;
  const own = history.find((r) => r.revision === specRevision);
  if (own && own.failedGeneration === generation && own.rolledBackTo) {
    const to = history.find((r) => r.revision === own.rolledBackTo);
    // Held until the spec changes; a target pruned from under it (it never is) ends it.
    if (to) return { record, rollback: { failed: specRevision, why: own.failure ?? 'failed', to, now: false } };
  }
  if (!app.spec?.rollout?.autoRollback || own?.availableAt) return { record };
  const why = rolloutFailure(app, specRevision, instances, now);
  if (!why) return { record };
  const to = lastAvailable(history, specRevision);
  return to ? { record, rollback: { failed: specRevision, why, to, now: true } } : { record };
}

/** The newest revision other than `except` that was fully available, if any. */
export function lastAvailable(history: readonly RevisionRow[], except: string): RevisionRow | undefined {
  return history.filter((r) => r.availableAt && r.revision !== except).sort((a, b) => b.number - a.number)[0];
}

/**
 * Why the rollout of `revision` failed, or undefined while it may still succeed: its instances
 * unready past the progress deadline, restarted CRASH_LOOP_ROLLBACK_EXITS times, or refused.
 */
export function rolloutFailure(app: App, revision: string, instances: readonly AppInstance[], now: Date): string | undefined {
  const current = instances.filter((i) => i.desired === 'running' && i.revision === revision && !i.ready);
  const refused = current.filter((i) => i.phase === 'failed' && i.reason);
  if (refused.length > 0) return `${plural(refused.length, 'instance')} refused by ${refused.length === 1 ? 'its node' : 'their nodes'}: ${refused[0]!.id} on ${refused[0]!.node}: ${refused[0]!.reason}: ${refused[0]!.message ?? ''}`;
  const looping = crashLooping(current).filter((i) => restartCount(i) >= CRASH_LOOP_ROLLBACK_EXITS);
  if (looping.length > 0) return `${plural(looping.length, 'instance')} in CrashLoopBackOff: ${describeCrashLoop(looping)}`;
  const deadlineMs = (app.spec?.rollout?.progressDeadlineSeconds ?? 600) * 1000;
  const stuck = current.filter((i) => now.getTime() - i.createdAt.getTime() > deadlineMs);
  if (stuck.length > 0) return `${plural(stuck.length, 'instance')} not ready after ${deadlineMs / 1000} s: ${stuck[0]!.id} on ${stuck[0]!.node}: ${stuck[0]!.phase ?? 'not started'}`;
  return undefined;
}

/** Progressing=False RolledBack's message: `revision abc failed (why); running def`. */
export function rolledBackMessage(rollback: Rollback, running: string): string {
  return `revision ${rollback.failed} failed (${rollback.why}); running ${running}`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
