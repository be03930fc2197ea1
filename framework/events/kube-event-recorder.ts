import { randomBytes } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Resource } from '../client/index.js';
import { poolConnections } from '../client/pooled-kube-config.js';
import { systemClock, type Clock } from '../time/clock.js';
import { BaseEventRecorder } from './base-event-recorder.js';
import type { EventType } from './index.js';

export interface KubeEventRecorderOptions {
  /** Who reports (`source.component`). @default 'tend' */
  readonly component?: string;
  /** Which replica reports (`source.host`). */
  readonly instance?: string;
  readonly logger: Logger;
  /** @default systemClock */
  readonly clock?: Clock;
  /** A repeat within this window bumps the count of the existing Event. @default 600_000 (client-go's 10 min) */
  readonly aggregateMs?: number;
}

interface Seen {
  readonly name: string;
  readonly namespace: string;
  count: number;
  last: number;
  /** The last write of this event: a repeat waits for it, so a patch never races the create. */
  written: Promise<unknown>;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const MAX_SEEN = 4_096;

/** Records core/v1 Events on the API server, deduplicated and rate-limited like client-go's recorder. */
export class KubeEventRecorder extends BaseEventRecorder {
  private readonly api: CoreV1Api;
  private readonly seen = new Map<string, Seen>();
  private sequence = 0;

  constructor(kubeConfig: KubeConfig, private readonly options: KubeEventRecorderOptions) {
    super(options.clock ?? systemClock, options.logger);
    this.api = poolConnections(kubeConfig).makeApiClient(CoreV1Api);
  }

  /** Decides synchronously (create or bump the count), then writes after this event's previous write. */
  protected async write(obj: Resource, uid: string, type: EventType, reason: string, message: string): Promise<void> {
    const now = this.clock.now();
    const key = `${uid}\u0000${type}\u0000${reason}\u0000${message}`;
    const seen = this.seen.get(key);
    const timestamp = new Date(now);
    if (seen && now - seen.last < (this.options.aggregateMs ?? 600_000)) {
      seen.count++;
      seen.last = now;
      const count = seen.count;
      seen.written = seen.written.catch(() => {}).then(() =>
        this.api.patchNamespacedEvent({ name: seen.name, namespace: seen.namespace, body: { count, lastTimestamp: timestamp } }, mergePatch),
      );
      await seen.written;
      return;
    }
    // Cluster-scoped objects' events go to `default`, as Kubernetes does for Nodes.
    const namespace = obj.metadata.namespace ?? 'default';
    // Unique even for many events in one millisecond (client-go uses nanoseconds): time, a
    // per-recorder sequence, and random bits against other replicas' recorders.
    const name = `${obj.metadata.name}.${now.toString(16)}${(++this.sequence).toString(16)}${randomBytes(3).toString('hex')}`;
    const written = this.api.createNamespacedEvent({
      namespace,
      body: {
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
          ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
          ...(obj.metadata.resourceVersion ? { resourceVersion: obj.metadata.resourceVersion } : {}),
        },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        source: { component: this.options.component ?? 'tend', ...(this.options.instance ? { host: this.options.instance } : {}) },
        reportingComponent: this.options.component ?? 'tend',
        ...(this.options.instance ? { reportingInstance: this.options.instance } : {}),
      },
    });
    this.seen.set(key, { name, namespace, count: 1, last: now, written });
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.keys().next().value!);
    await written;
  }
}
