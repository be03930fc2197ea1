/**
 * Where an unbound volume goes: chosen when the first App that mounts it is placed, so the volume
 * lands on a node that can also run that App. Pure.
 *
 * A node qualifies when it is ready, carries the App's nodeSelector labels, has the disk for every
 * unbound volume of the App (capacity − the sizes of volumes already bound there) and the memory
 * and an instance slot for one instance. Among those, the most free disk wins (data spreads out), then the name.
 */
import { bytes } from '../api/quantity-units.js';
import type { Tenant } from '../api/types/tenant.js';
import type { NodeView } from './scheduler.js';

/** A node as binding sees it: the scheduler's view plus disk. */
export interface BindingNode extends NodeView {
  /** Bytes of disk offered to volumes: spec.capacity.disk, else what the agent measured (0 when unknown). */
  readonly diskCapacity: number;
  /** Bytes promised to volumes already bound there. */
  readonly diskBound: number;
}

export interface BindingRequest {
  /** Σ of the sizes of the App's unbound volumes. */
  readonly size: number;
  /** Memory of one instance. */
  readonly memory: number;
  readonly nodeSelector: Readonly<Record<string, string>>;
}

/** The chosen node, or why none qualifies (one sentence, biggest obstacle first). */
export function chooseVolumeNode(nodes: readonly BindingNode[], request: BindingRequest): { node: string } | { message: string } {
  const counts = { notReady: 0, unisolated: 0, selector: 0, disk: 0, memory: 0, slots: 0 };
  let best: BindingNode | undefined;
  let mostFreeDisk = 0;
  for (const n of nodes) {
    const freeDisk = n.diskCapacity - n.diskBound;
    if (n.state !== 'ready') counts.notReady++;
    else if (n.isolated === false) counts.unisolated++;
    else if (!Object.entries(request.nodeSelector).every(([k, v]) => n.labels[k] === v)) counts.selector++;
    else if (freeDisk < request.size) {
      counts.disk++;
      mostFreeDisk = Math.max(mostFreeDisk, freeDisk);
    } else if (n.allocatableMemory - n.allocatedMemory < request.memory) counts.memory++;
    else if (n.maxInstances !== undefined && (n.allocatedInstances ?? 0) >= n.maxInstances) counts.slots++;
    else if (!best || freeDisk > best.diskCapacity - best.diskBound || (freeDisk === best.diskCapacity - best.diskBound && n.name < best.name)) best = n;
  }
  if (best) return { node: best.name };
  const reasons = [
    [counts.disk, `not enough free disk (most free ${gib(mostFreeDisk)})`],
    [counts.memory, 'not enough free memory'],
    [counts.slots, 'at the instance limit'],
    [counts.selector, "no match for the App's nodeSelector"],
    [counts.notReady, 'not ready'],
    [counts.unisolated, 'not isolated (their agents cannot sandbox instances)'],
  ] as const;
  const parts = reasons.filter(([n]) => n > 0).sort((a, b) => b[0] - a[0]).map(([n, what]) => `${n} ${what}`);
  return { message: `0/${nodes.length} nodes can hold its volumes (${gib(request.size)})${parts.length ? `: ${parts.join(', ')}` : ''}` };
}

function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)}Gi` : `${Math.round(bytes / 2 ** 20)}Mi`;
}

/** A tenant's volume limits (spec.quota.volumes, spec.quota.storage in bytes); absent: unlimited. */
export interface VolumeQuota {
  readonly volumes?: number;
  readonly storage?: number;
}

/** The volume limits of a Tenant's spec.quota. */
export function volumeQuotaOf(tenant: Tenant): VolumeQuota {
  const quota = tenant.spec?.quota ?? {};
  return { ...(quota.volumes !== undefined ? { volumes: quota.volumes } : {}), ...(quota.storage !== undefined ? { storage: bytes(quota.storage) } : {}) };
}

/**
 * Whether binding `adding` more volumes keeps the tenant within its quota, counting the volumes
 * already bound (a bound volume is provisioned: it holds disk on its node). Backups do not count:
 * they live in the backup store, not on a node, bounded per volume by spec.backup.retain.
 * Undefined when it fits; otherwise the sentence for Scheduled=False / Bound=False QuotaExceeded.
 */
export function volumeQuotaVerdict(
  tenant: string,
  quota: VolumeQuota,
  bound: { readonly volumes: number; readonly storage: number },
  adding: { readonly volumes: number; readonly storage: number },
): string | undefined {
  if (quota.volumes !== undefined && bound.volumes + adding.volumes > quota.volumes) {
    return `tenant ${tenant}'s volume quota: ${quota.volumes} volume${quota.volumes === 1 ? '' : 's'} allowed, ${bound.volumes} bound; not provisioned until one is deleted or the quota raised`;
  }
  if (quota.storage !== undefined && bound.storage + adding.storage > quota.storage) {
    return `tenant ${tenant}'s storage quota: ${gib(quota.storage)} allowed, ${gib(bound.storage)} bound, ${gib(adding.storage)} more would exceed it; not provisioned until space is freed or the quota raised`;
  }
  return undefined;
}
