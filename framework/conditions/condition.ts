/** A condition's status, as Kubernetes spells it. */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** One entry of `status.conditions`, shaped exactly like Kubernetes' `metav1.Condition`. */
export interface Condition {
  /** CamelCase kind of the condition: `Ready`, `Scheduled`, `Available` …; unique in one list. */
  readonly type: string;
  readonly status: ConditionStatus;
  /** CamelCase, machine-readable cause of the last change: `NoNodeFits`, `ImagePullFailed` … */
  readonly reason: string;
  /** Human-readable detail; may be empty. */
  readonly message: string;
  /** RFC 3339 in whole seconds (`2025-01-02T03:04:05Z`): when `status` last changed. */
  readonly lastTransitionTime: string;
  /** The `metadata.generation` this condition was computed from. */
  readonly observedGeneration?: number;
}

/** What a controller decides; `setCondition` adds the times and the generation. */
export interface ConditionUpdate {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}
