import type { Condition, ConditionStatus } from './condition.js';

/** The `Ready` condition's status, reason and message, ready for `setCondition`. */
export interface ReadySummary {
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

/** Which conditions `Ready` summarises, most fundamental first. */
export interface ReadySummaryOptions {
  /** Types in order of precedence: when several fail, the first one listed explains Ready. */
  readonly dependsOn: readonly string[];
}

/** Reason when every listed condition is True (Cluster API's and OpenShift's word for it). */
export const READY_REASON = 'AsExpected';
/** Reason when a listed condition has not been set yet. */
export const MISSING_REASON = 'NotYetReported';

/**
 * Summarises `dependsOn` into Ready: True only when every listed condition is True; otherwise
 * False if any is False, else Unknown, with the reason and message of the first such condition in
 * the listed order — so Ready always carries the most actionable cause. A listed condition that is
 * absent counts as Unknown.
 */
export function readySummary(conditions: readonly Condition[] | undefined, options: ReadySummaryOptions): ReadySummary {
  const byType = new Map((conditions ?? []).map((c) => [c.type, c]));
  let firstUnknown: ReadySummary | undefined;
  for (const type of options.dependsOn) {
    const condition = byType.get(type);
    if (!condition) {
      firstUnknown ??= { status: 'Unknown', reason: MISSING_REASON, message: `${type} has not been reported yet` };
      continue;
    }
    if (condition.status === 'False') return { status: 'False', reason: condition.reason, message: condition.message };
    if (condition.status === 'Unknown') firstUnknown ??= { status: 'Unknown', reason: condition.reason, message: condition.message };
  }
  return firstUnknown ?? { status: 'True', reason: READY_REASON, message: '' };
}
