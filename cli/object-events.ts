/** The events of one object, from wherever the backend keeps them (tend.events or core/v1 Events). */
import { type EventRow, eventsFor, type Resource } from '../framework/index.js';
import type { Connection } from './connection.js';

/** One event as describe and why print it. */
export interface ObjectEvent {
  readonly type: string;
  readonly reason: string;
  readonly lastSeen: Date;
  readonly count: number;
  readonly from: string;
  readonly message: string;
}

/** The newest `limit` events of `obj`, oldest first. */
export async function objectEvents(connection: Connection, obj: Resource, limit = 10): Promise<ObjectEvent[]> {
  const { kind, metadata } = obj;
  if (connection.core) {
    const list = await connection.core.listNamespacedEvent({
      namespace: metadata.namespace ?? 'default',
      fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${metadata.name}`,
    });
    return list.items
      .map((e) => ({
        type: e.type ?? '',
        reason: e.reason ?? '',
        lastSeen: new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0),
        count: e.count ?? 1,
        from: e.reportingInstance ?? e.source?.host ?? e.reportingComponent ?? '',
        message: e.message ?? '',
      }))
      .sort((a, b) => a.lastSeen.getTime() - b.lastSeen.getTime())
      .slice(-limit);
  }
  if (!connection.store) return [];
  const rows = await connection.store.query<EventRow>(eventsFor, [kind, metadata.namespace ?? '', metadata.name, limit]);
  return rows.map((r) => ({ type: r.type, reason: r.reason, lastSeen: r.last_seen, count: r.count, from: r.reporter, message: r.message }));
}
