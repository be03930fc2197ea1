import { rfc3339Seconds } from '../time/rfc3339.js';
import type { Condition, ConditionStatus, ConditionUpdate } from './condition.js';

/** The clock and generation `setCondition` stamps onto the condition. */
export interface SetConditionOptions {
  /** The reconcile's clock (`ctx.now()`); used only when `status` changes. */
  readonly now: Date;
  /** `metadata.generation` the decision was made from; omitted ⇒ no `observedGeneration`. */
  readonly generation?: number;
}

/** A new conditions list and whether it differs from the old one (write only when it does). */
export interface ConditionsChange {
  readonly conditions: Condition[];
  readonly changed: boolean;
}

// Limits and patterns from metav1.Condition's validation: the API server rejects anything else,
// so a bad value fails here, next to the code that made it, instead of in a status write.
const TYPE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const MAX_TYPE = 316;
const MAX_REASON = 1024;
const MAX_MESSAGE = 32_768;
const STATUSES: readonly ConditionStatus[] = ['True', 'False', 'Unknown'];

/**
 * Sets one condition, like apimachinery's `meta.SetStatusCondition`: a new type is appended (order
 * stays stable); `lastTransitionTime` moves only when `status` flips; reason, message and
 * observedGeneration are replaced. Pure: returns a new array and never mutates `conditions`.
 * Throws `TypeError` for a type, status or reason the API server would reject.
 */
export function setCondition(conditions: readonly Condition[] | undefined, next: ConditionUpdate, options: SetConditionOptions): ConditionsChange {
  checkUpdate(next);
  if (options.generation !== undefined && (!Number.isSafeInteger(options.generation) || options.generation < 0)) {
    throw new TypeError(`condition ${next.type}: generation must be a non-negative integer, got ${String(options.generation)}`);
  }
  const list = conditions ?? [];
  const index = list.findIndex((c) => c.type === next.type);
  const existing = index === -1 ? undefined : list[index];
  const updated: Condition = {
    type: next.type,
    status: next.status,
    ...(options.generation === undefined ? {} : { observedGeneration: options.generation }),
    lastTransitionTime: existing && existing.status === next.status ? existing.lastTransitionTime : rfc3339Seconds(options.now),
    reason: next.reason,
    message: truncate(next.message),
  };
  if (!existing) return { conditions: [...list, updated], changed: true };
  if (sameCondition(existing, updated)) return { conditions: [...list], changed: false };
  const copy = [...list];
  copy[index] = updated;
  return { conditions: copy, changed: true };
}

/** The condition of `type`, if present. */
export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** Whether the condition of `type` is present with status `True`. */
export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** Removes the condition of `type`; pure, `changed` is false when it was absent. */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): ConditionsChange {
  const list = conditions ?? [];
  const kept = list.filter((c) => c.type !== type);
  return { conditions: kept, changed: kept.length !== list.length };
}

/** Whether two lists hold the same conditions, field for field, in any order: "unchanged ⇒ no write". */
export function conditionsEqual(a: readonly Condition[] | undefined, b: readonly Condition[] | undefined): boolean {
  const left = byType(a ?? []);
  const right = byType(b ?? []);
  return left.length === right.length && left.every((c, i) => sameCondition(c, right[i]!));
}

function byType(conditions: readonly Condition[]): Condition[] {
  return [...conditions].sort((x, y) => (x.type < y.type ? -1 : x.type > y.type ? 1 : 0));
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.type === b.type &&
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.lastTransitionTime === b.lastTransitionTime &&
    a.observedGeneration === b.observedGeneration
  );
}

/** Keeps a long error text from making the whole status write fail validation. */
function truncate(message: string): string {
  if (message.length <= MAX_MESSAGE) return message;
  // The API server counts code points; cutting on them also never splits a surrogate pair.
  const points = Array.from(message);
  return points.length <= MAX_MESSAGE ? message : `${points.slice(0, MAX_MESSAGE - 1).join('')}…`;
}

function checkUpdate(next: ConditionUpdate): void {
  if (typeof next.type !== 'string' || next.type.length > MAX_TYPE || !TYPE.test(next.type)) {
    throw new TypeError(`condition type ${JSON.stringify(next.type)} is not valid: CamelCase like "Ready", optionally prefixed "example.com/", at most ${MAX_TYPE} characters`);
  }
  if (!STATUSES.includes(next.status)) {
    throw new TypeError(`condition ${next.type}: status must be "True", "False" or "Unknown", got ${JSON.stringify(next.status)}`);
  }
  if (typeof next.reason !== 'string' || next.reason.length > MAX_REASON || !REASON.test(next.reason)) {
    throw new TypeError(`condition ${next.type}: reason ${JSON.stringify(next.reason)} is not valid: CamelCase like "NoNodeFits" (letters, digits, _ , :), not empty`);
  }
  if (typeof next.message !== 'string') {
    throw new TypeError(`condition ${next.type}: message must be a string (may be empty)`);
  }
}
