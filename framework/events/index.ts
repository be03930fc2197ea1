/**
 * @module
 * Events on resources, as `kubectl describe` shows them. Recording is fire-and-forget: an event
 * that cannot be written is logged, never thrown — it must not fail a reconcile.
 */
import type { Resource } from '../client/index.js';

export { KubeEventRecorder, type KubeEventRecorderOptions } from './kube-event-recorder.js';
export { PostgresEventRecorder, type PostgresEventRecorderOptions } from './postgres-event-recorder.js';
export { eventsFor, type EventRow } from './postgres-event-queries.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** Records that `reason` happened to `obj`; repeats are aggregated and floods dropped. */
  record(obj: Resource, type: EventType, reason: string, message: string): void;
}

/** Records nothing (tests, tools). */
export const noEvents: EventRecorder = { record() {} };
