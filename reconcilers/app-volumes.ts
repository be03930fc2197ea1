/**
 * The volumes side of placing an App, planned: which node a stateful App must run on (where its
 * volumes live), what must be done first (claim its free volumes, bind its unbound ones), and what
 * keeps it from running there, in words a person can act on. Pure: controllers/app-volumes.ts
 * reads the rows, executes the claim or the bind (one attempt each) and asks again.
 *
 * A pass goes: refuse sizes no node takes, volumes not found or being deleted → claim the free
 * ones (all or none, reconcilers/volume-claims.ts), or wait for the App that holds one → bind the
 * unbound ones to one node (reconcilers/volume-binding.ts chooses it) → the verdict on the bound
 * volumes: one node, within size, not lost.
 */
import type { App } from '../api/types/app.js';
import { binaryQuantity } from '../api/quantity-units.js';
import { sizeProblem } from './scheduler.js';
import { volumeNodeLostMessage } from './volume.js';
import { volumeClaimVerdict, volumeDeletingMessage, type VolumeClaim } from './volume-claims.js';

/** Where a stateful App may run, and why it may not. */
export interface AppVolumes {
  /** The node holding its volumes, once bound. */
  readonly pinnedNode?: string;
  /** Nothing (more) may be placed, and why: Scheduled=False. */
  readonly unplaced?: { readonly reason: string; readonly message: string };
  /** What keeps its instance from being ready: Available=False. */
  readonly blocked?: { readonly reason: string; readonly message: string };
  /** A volume of it holds more than its size: VolumesWithinSize=False SizeExceeded (it keeps running). */
  readonly overSize?: string;
  /** Its volumes that another App holds (VolumeInUse): an instance of it mounting one stops. */
  readonly heldElsewhere?: readonly string[];
  /** Another replica's binding took the free disk first: look again soon, with a fresh view. */
  readonly contended?: boolean;
}

/** One volume the App mounts, as PostgreSQL has it (platform.volumes with its node's liveness). */
export interface AppVolumeRow {
  readonly key: string;
  readonly node: string | null;
  readonly size: number;
  readonly usage: number | null;
  readonly desired: string;
  readonly nodeLostSince: Date | null;
  readonly latestBackup: { readonly id: string; readonly time: string } | null;
}

/** What one pass observed: the App's volume rows and the claims on them. */
export interface ObservedAppVolumes {
  readonly rows: readonly AppVolumeRow[];
  readonly claims: readonly VolumeClaim[];
}

export interface AppVolumesOptions {
  /** Memory of one instance, bytes. */
  readonly memory: number;
  /** Whether the Volume `namespace/name` is being deleted (its deletionTimestamp set, the deletion maybe waiting). */
  readonly deleting?: (key: string) => boolean;
}

/** The volumes to bind, all to one node: `node` where the others already live, else the one binding chooses. */
export interface VolumeBind {
  readonly volumes: readonly string[];
  /** Σ of their sizes, bytes. */
  readonly size: number;
  readonly node?: string;
}

/** Settled for this pass (`verdict`), or the one step to execute before asking again. */
export type AppVolumesPlan =
  | { readonly verdict: AppVolumes }
  /** Claim these free volumes (all or none), under the claims lock, re-checking in a fresh statement. */
  | { readonly claim: readonly string[] }
  | { readonly bind: VolumeBind };

/** Plans the volumes of `app` from what PostgreSQL has of them. */
export function planAppVolumes(app: App, observed: ObservedAppVolumes, options: AppVolumesOptions): AppVolumesPlan {
  // A size no node can hold (Infinity from "1e999", 0 from "1m") would bind a volume for nothing.
  const invalid = sizeProblem(options.memory, 1);
  if (invalid) return { verdict: { unplaced: { reason: 'InvalidResources', message: invalid } } };
  const ns = app.metadata.namespace!;
  const keys = appVolumeKeys(app);
  const { rows } = observed;
  const missing = keys.filter((k) => !rows.some((r) => r.key === k));
  if (missing.length > 0) {
    return { verdict: { unplaced: { reason: 'VolumeNotFound', message: `${missing.map((k) => `volume ${k.split('/')[1]}`).join(', ')} not found in namespace ${ns}: create the Volume (or wait for its controller)` } } };
  }
  // A Volume being deleted is mounted by no new instance, also while its deletion waits for the Apps listing it.
  const deleting = rows.filter((r) => r.desired === 'deleted' || options.deleting?.(r.key));
  if (deleting.length > 0) return { verdict: { unplaced: { reason: 'VolumeDeleting', message: volumeDeletingMessage(deleting[0]!.key) } } };
  const claimed = volumeClaimVerdict(`${ns}/${app.metadata.name}`, keys, observed.claims);
  if ('reason' in claimed) return { verdict: { unplaced: { reason: claimed.reason, message: claimed.message }, heldElsewhere: claimed.volumes } };
  if (claimed.claim.length > 0) return { claim: claimed.claim };

  const unbound = rows.filter((r) => r.node === null);
  if (unbound.length > 0) {
    const node = rows.find((r) => r.node !== null)?.node ?? undefined;
    return { bind: { volumes: unbound.map((r) => r.key), size: unbound.reduce((sum, r) => sum + r.size, 0), ...(node ? { node } : {}) } };
  }
  const nodes = [...new Set(rows.map((r) => r.node))];
  if (nodes.length > 1) {
    return { verdict: { unplaced: { reason: 'VolumesOnDifferentNodes', message: `its volumes live on different nodes (${rows.map((r) => `${r.key} on ${r.node ?? 'none'}`).join(', ')}): one instance cannot mount them all` } } };
  }
  const pinnedNode = nodes[0]!;
  const lost = rows.find((r) => r.nodeLostSince);
  const replicas = app.spec?.replicas ?? 1;
  // The process runtime cannot hold a volume to its size: the App says so (it keeps running).
  const overSize = rows.find((r) => r.usage !== null && r.usage > r.size);
  return {
    verdict: {
      pinnedNode,
      ...(overSize ? { overSize: `${sizeExceeded({ ...overSize, usage: overSize.usage! })}: grow spec.size or delete data; the tenant gets no new volume bound meanwhile` } : {}),
      ...(replicas > 1
        ? { unplaced: { reason: 'VolumeSingleWriter', message: `spec.replicas is ${replicas}, but its volume${keys.length > 1 ? 's are' : ' is'} single-writer (${keys.join(', ')}): at most 1 instance runs` } }
        : {}),
      ...(lost ? { blocked: { reason: 'VolumeNodeLost', message: volumeNodeLostMessage(lost.key, lost.node!, lost.nodeLostSince!, lost.latestBackup ?? undefined) } } : {}),
    },
  };
}

/** The keys (namespace/name) of the volumes `app` mounts. */
export function appVolumeKeys(app: App): string[] {
  return (app.spec?.volumes ?? []).map((m) => `${app.metadata.namespace}/${m.volume}`);
}

/** What one attempt at binding came to (controllers/app-volumes.ts). */
export type VolumeBindResult =
  /** Bound, all of them, to `node`. */
  | { readonly node: string }
  /** A volume of the tenant holds more than its size: it gets no new volume bound. */
  | { readonly overSize: { readonly key: string; readonly usage: number; readonly size: number } }
  /** The tenant's volume or storage quota (reconcilers/volume-binding.ts volumeQuotaVerdict's sentence). */
  | { readonly quota: string }
  /** No node can hold them (chooseVolumeNode's sentence). */
  | { readonly message: string }
  /** The node re-checked under its lock had not the free disk any more: someone else took it. */
  | { readonly taken: true };

/** The App's verdict when binding did not bind; undefined when it did (ask planAppVolumes again). */
export function bindVerdict(bind: VolumeBind, result: VolumeBindResult): AppVolumes | undefined {
  if ('node' in result) return undefined;
  if ('overSize' in result) return { unplaced: { reason: 'SizeExceeded', message: `${sizeExceeded(result.overSize)}: no new volume of this tenant is bound until it is back within its size` } };
  if ('quota' in result) return { unplaced: { reason: 'QuotaExceeded', message: result.quota } };
  if ('message' in result) return { unplaced: { reason: 'Unschedulable', message: result.message } };
  // Where its other volumes live is the only node: waiting for another replica will not free disk there.
  if (bind.node) return { unplaced: { reason: 'Unschedulable', message: `node ${bind.node}, where its other volumes live, has not the free disk for ${bind.volumes.join(', ')}` } };
  return VOLUMES_CONTENDED;
}

/** Another replica claimed, bound or took the free disk between this pass's reads and its commit. */
export const VOLUMES_CONTENDED: AppVolumes = { unplaced: { reason: 'Unschedulable', message: 'other volumes took the free disk first; trying again' }, contended: true };

function sizeExceeded(v: { key: string; usage: number; size: number }): string {
  return `volume ${v.key} holds ${binaryQuantity(v.usage)}, more than its spec.size ${binaryQuantity(v.size)} (the process runtime does not enforce sizes)`;
}
