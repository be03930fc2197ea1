/**
 * @module
 * Condition math for `status.conditions` (Kubernetes' `metav1.Condition`): pure functions, no I/O,
 * usable from planners.
 *
 * Design notes
 * - `lastTransitionTime` moves only when `status` flips, as in apimachinery's
 *   `meta.SetStatusCondition`; a new reason or message is a change but keeps the time, so
 *   "Ready for 3 days" stays true while the message text varies.
 * - Every setter returns `changed`, and `conditionsEqual` compares whole lists: unchanged ⇒ no write.
 * - Times are whole seconds, as the API server stores them; otherwise every read-back would differ.
 * - `Ready` is derived, never decided: `readySummary` takes the first failing condition in a
 *   declared order, so its reason is the most fundamental problem (Scheduled before Available).
 *
 * ```ts
 * const stamp = { now: ctx.now(), generation: app.metadata.generation };
 * let { conditions } = setCondition(app.status?.conditions, { type: 'Scheduled', status: 'False',
 *   reason: 'NoNodeFits', message: 'no node has 2 GiB free' }, stamp);
 * ({ conditions } = setCondition(conditions, { type: 'Ready',
 *   ...readySummary(conditions, { dependsOn: ['Scheduled', 'Available'] }) }, stamp));
 * if (!conditionsEqual(conditions, app.status?.conditions)) await writeStatus({ conditions });
 * // Ready: False, reason NoNodeFits, message "no node has 2 GiB free"
 * ```
 */
export type { Condition, ConditionStatus, ConditionUpdate } from './condition.js';
export {
  setCondition,
  findCondition,
  isTrue,
  removeCondition,
  conditionsEqual,
  type SetConditionOptions,
  type ConditionsChange,
} from './conditions.js';
export { readySummary, READY_REASON, MISSING_REASON, type ReadySummary, type ReadySummaryOptions } from './ready-summary.js';
