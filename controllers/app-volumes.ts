/**
 * The volumes side of placing an App: which node it must run on (where its volumes live, binding
 * unbound ones first), and what keeps it from running there, in words a person can act on.
 */
import type { App } from '../api/types/app.js';
import { binaryQuantity } from '../api/quantity-units.js';
import { fencedTx, type ReconcileContext, type Store } from '../framework/index.js';
import { sizeProblem } from '../reconcilers/placement.js';
import { chooseVolumeNode, volumeQuotaVerdict, type VolumeQuota } from '../reconcilers/volume-binding.js';
import { lockTenantVolumes, tenantBoundVolumes } from './volume-queries.js';
import { volumeNodeLostMessage } from '../reconcilers/volume.js';
import { bindVolume, lockNodes, nodeFreeDisk, tenantVolumeOverSize, volumesOfApp } from './app-queries.js';
import { liveNodes } from './place-instances.js';
import { volumeClaimVerdict, volumeDeletingMessage, type VolumeClaim } from '../reconcilers/volume-claims.js';
import { claimsOfVolumes, insertVolumeClaims, lockVolumeClaims } from './volume-claim-queries.js';

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
}

interface BindOptions {
  /** Memory of one instance, bytes. */
  readonly memory: number;
  readonly liveWithinMs: number;
  /** The cluster's maxInstancesPerNode: a full node cannot take the App, so not its volumes either. */
  readonly maxInstancesPerNode: number;
  /** The cluster's allowUnisolatedNodes. */
  readonly allowUnisolatedNodes: boolean;
  /** The owning tenant's volume limits, checked under its lock as volumes are bound. */
  readonly quota?: { readonly tenant: string; readonly limits: VolumeQuota };
  /** Whether the Volume `namespace/name` is being deleted (its deletionTimestamp set, the deletion maybe waiting). */
  readonly deleting?: (key: string) => boolean;
}

interface VolumeRow {
  key: string;
  node: string | null;
  size: number;
  usage: number | null;
  desired: string;
  nodeLostSince: Date | null;
  latestBackup: { id: string; time: string } | null;
}

/** Resolves the volumes of `app` (binding unbound ones to a node that can hold them and run it). */
export async function resolveAppVolumes(store: Store, ctx: ReconcileContext, app: App, options: BindOptions): Promise<AppVolumes> {
  // A size no node can hold (Infinity from "1e999", 0 from "1m") would bind a volume for nothing.
  const invalid = sizeProblem(options.memory, 1);
  if (invalid) return { unplaced: { reason: 'InvalidResources', message: invalid } };
  const ns = app.metadata.namespace!;
  const mounts = app.spec?.volumes ?? [];
  const keys = mounts.map((m) => `${ns}/${m.volume}`);
  let rows = await store.query<VolumeRow>(volumesOfApp, [keys]);
  const missing = keys.filter((k) => !rows.some((r) => r.key === k));
  if (missing.length > 0) {
    return { unplaced: { reason: 'VolumeNotFound', message: `${missing.map((k) => `volume ${k.split('/')[1]}`).join(', ')} not found in namespace ${ns}: create the Volume (or wait for its controller)` } };
  }
  // A Volume being deleted is mounted by no new instance, also while its deletion waits for the Apps listing it.
  const deleting = rows.filter((r) => r.desired === 'deleted' || options.deleting?.(r.key));
  if (deleting.length > 0) return { unplaced: { reason: 'VolumeDeleting', message: volumeDeletingMessage(deleting[0]!.key) } };
  const held = await claim(store, ctx, `${ns}/${app.metadata.name}`, keys);
  if (held) return { unplaced: { reason: held.reason, message: held.message }, heldElsewhere: held.volumes };

  const unbound = rows.filter((r) => r.node === null);
  if (unbound.length > 0) {
    const [over] = await store.query<{ key: string; usage: number; size: number }>(tenantVolumeOverSize, [unbound[0]!.key]);
    if (over) return { unplaced: { reason: 'SizeExceeded', message: `${sizeExceeded(over)}: no new volume of this tenant is bound until it is back within its size` } };
    const bound = await bind(store, ctx, app, rows, unbound, options);
    if ('quota' in bound) return { unplaced: { reason: 'QuotaExceeded', message: bound.quota } };
    if ('message' in bound) return { unplaced: { reason: 'Unschedulable', message: bound.message } };
    rows = await store.query<VolumeRow>(volumesOfApp, [keys]);
  }
  const nodes = [...new Set(rows.map((r) => r.node))];
  if (nodes.length > 1 || nodes[0] === null) {
    return { unplaced: { reason: 'VolumesOnDifferentNodes', message: `its volumes live on different nodes (${rows.map((r) => `${r.key} on ${r.node ?? 'none'}`).join(', ')}): one instance cannot mount them all` } };
  }
  const pinnedNode = nodes[0]!;
  const lost = rows.find((r) => r.nodeLostSince);
  const replicas = app.spec?.replicas ?? 1;
  // The process runtime cannot hold a volume to its size: the App says so (it keeps running).
  const overSize = rows.find((r) => r.usage !== null && r.usage > r.size);
  return {
    pinnedNode,
    ...(overSize ? { overSize: `${sizeExceeded({ ...overSize, usage: overSize.usage! })}: grow spec.size or delete data; the tenant gets no new volume bound meanwhile` } : {}),
    ...(replicas > 1
      ? { unplaced: { reason: 'VolumeSingleWriter', message: `spec.replicas is ${replicas}, but its volume${keys.length > 1 ? 's are' : ' is'} single-writer (${keys.join(', ')}): at most 1 instance runs` } }
      : {}),
    ...(lost ? { blocked: { reason: 'VolumeNodeLost', message: volumeNodeLostMessage(lost.key, lost.node!, lost.nodeLostSince!, lost.latestBackup ?? undefined) } } : {}),
  };
}

/**
 * Claims the App's free volumes (all or none, under the claims lock, re-read in a fresh statement);
 * undefined when the App holds them all now, else which are held by another App and why.
 */
async function claim(store: Store, ctx: ReconcileContext, app: string, keys: readonly string[]): Promise<{ reason: string; message: string; volumes: readonly string[] } | undefined> {
  const verdict = volumeClaimVerdict(app, keys, await store.query<VolumeClaim>(claimsOfVolumes, [keys]));
  if ('reason' in verdict) return verdict;
  if (verdict.claim.length === 0) return undefined;
  const fresh = await fencedTx(store, ctx.fence, async (tx) => {
    await tx.query(lockVolumeClaims, []);
    const now = volumeClaimVerdict(app, keys, await tx.query<VolumeClaim>(claimsOfVolumes, [keys]));
    if ('claim' in now && now.claim.length > 0) await tx.query(insertVolumeClaims, [now.claim, app]);
    return now;
  });
  if ('reason' in fresh) return fresh;
  if (fresh.claim.length > 0) ctx.log.info({ volumes: fresh.claim }, 'volumes claimed');
  return undefined;
}

function sizeExceeded(v: { key: string; usage: number; size: number }): string {
  return `volume ${v.key} holds ${binaryQuantity(v.usage)}, more than its spec.size ${binaryQuantity(v.size)} (the process runtime does not enforce sizes)`;
}

const BIND_ATTEMPTS = 3;

/**
 * Binds the unbound volumes to one node: where the others already are, else the node binding
 * chooses. The commit locks the node row and re-checks its free disk in a fresh statement, so two
 * replicas binding at once never promise the same disk twice (as instance placement does); before
 * that it takes the tenant's volume lock and re-checks its volume and storage quota the same way.
 */
async function bind(store: Store, ctx: ReconcileContext, app: App, rows: readonly VolumeRow[], unbound: readonly VolumeRow[], options: BindOptions): Promise<{ node: string } | { message: string } | { quota: string }> {
  const size = unbound.reduce((sum, r) => sum + r.size, 0);
  const already = rows.find((r) => r.node !== null)?.node ?? undefined;
  for (let attempt = 1; attempt <= BIND_ATTEMPTS; attempt++) {
    let node = already;
    if (!node) {
      const nodes = (await liveNodes(store, options.liveWithinMs, { allowUnisolated: options.allowUnisolatedNodes })).map((n) => ({ ...n, maxInstances: options.maxInstancesPerNode }));
      const choice = chooseVolumeNode(nodes, { size, memory: options.memory, nodeSelector: app.spec?.placement?.nodeSelector ?? {} });
      if ('message' in choice) return choice;
      node = choice.node;
    }
    const chosen = node;
    const committed = await fencedTx(store, ctx.fence, async (tx): Promise<boolean | { quota: string }> => {
      const quota = options.quota;
      if (quota && (quota.limits.volumes !== undefined || quota.limits.storage !== undefined)) {
        await tx.query(lockTenantVolumes, [quota.tenant]);
        const [held] = await tx.query<{ volumes: number; storage: number }>(tenantBoundVolumes, [quota.tenant]);
        const over = volumeQuotaVerdict(quota.tenant, quota.limits, held ?? { volumes: 0, storage: 0 }, { volumes: unbound.length, storage: size });
        if (over) return { quota: over };
      }
      await tx.query(lockNodes, [[chosen]]);
      const [free] = await tx.query<{ free: number }>(nodeFreeDisk, [chosen]);
      if (!free || free.free < size) return false;
      for (const r of unbound) await tx.query(bindVolume, [r.key, chosen, String(ctx.fence)]);
      return true;
    });
    if (typeof committed === 'object') return committed;
    if (committed) {
      ctx.log.info({ volumes: unbound.map((r) => r.key), node: chosen }, 'volumes bound');
      return { node: chosen };
    }
    if (already) return { message: `node ${already}, where its other volumes live, has not the free disk for ${unbound.map((r) => r.key).join(', ')}` };
  }
  return { message: 'other volumes took the free disk first; trying again' };
}
