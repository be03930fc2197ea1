/**
 * Executes the volumes side of placing an App (reconcilers/app-volumes.ts plans it): reads the
 * App's volume rows and claims, claims its free volumes and binds its unbound ones — one attempt
 * each, fenced — and returns the planner's verdict. A binding that lost the node's free disk to
 * another replica comes back `contended`; the App's reconcile looks again soon.
 */
import type { App } from '../api/types/app.js';
import { fencedTx, type ReconcileContext, type Store } from '../framework/index.js';
import {
  appVolumeKeys, bindVerdict, planAppVolumes, VOLUMES_CONTENDED, type AppVolumeRow, type AppVolumes, type AppVolumesOptions, type VolumeBind, type VolumeBindResult,
} from '../reconcilers/app-volumes.js';
import { chooseVolumeNode, volumeQuotaVerdict, type VolumeQuota } from '../reconcilers/volume-binding.js';
import type { VolumeClaim } from '../reconcilers/volume-claims.js';
import { lockTenantVolumes, tenantBoundVolumes } from './volume-queries.js';
import { bindVolume, lockNodes, nodeFreeDisk, tenantVolumeOverSize, volumesOfApp } from './app-queries.js';
import { liveNodes } from './place-instances.js';
import { claimsOfVolumes, insertVolumeClaims, lockVolumeClaims } from './volume-claim-queries.js';

export type { AppVolumes } from '../reconcilers/app-volumes.js';

interface ResolveOptions extends AppVolumesOptions {
  readonly liveWithinMs: number;
  /** The cluster's maxInstancesPerNode: a full node cannot take the App, so not its volumes either. */
  readonly maxInstancesPerNode: number;
  /** The cluster's allowUnisolatedNodes. */
  readonly allowUnisolatedNodes: boolean;
  /** The owning tenant's volume limits, checked under its lock as volumes are bound. */
  readonly quota?: { readonly tenant: string; readonly limits: VolumeQuota };
}

/** Resolves the volumes of `app`: claims and binds what the plan asks for, then returns its verdict. */
export async function resolveAppVolumes(store: Store, ctx: ReconcileContext, app: App, options: ResolveOptions): Promise<AppVolumes> {
  const key = `${app.metadata.namespace}/${app.metadata.name}`;
  const keys = appVolumeKeys(app);
  let rows = await store.query<AppVolumeRow>(volumesOfApp, [keys]);
  let claims = await store.query<VolumeClaim>(claimsOfVolumes, [keys]);
  let plan = planAppVolumes(app, { rows, claims }, options);
  if ('claim' in plan) {
    claims = await claim(store, ctx, app, rows, options);
    plan = planAppVolumes(app, { rows, claims }, options);
  }
  if ('bind' in plan) {
    const bound = bindVerdict(plan.bind, await bind(store, ctx, app, plan.bind, options));
    if (bound) return bound;
    rows = await store.query<AppVolumeRow>(volumesOfApp, [keys]);
    plan = planAppVolumes(app, { rows, claims }, options);
  }
  // Claimed and bound just now, yet the fresh rows still ask for more: another replica moved in between.
  if (!('verdict' in plan)) {
    ctx.log.debug({ app: key, plan }, 'volumes changed while they were claimed or bound; looking again');
    return VOLUMES_CONTENDED;
  }
  return plan.verdict;
}

/**
 * Claims the App's free volumes (all or none): under the claims lock it re-reads the claims in a
 * fresh statement and asks the plan again, so two Apps claiming at once never both get one.
 * Returns the claims as they stand after it.
 */
async function claim(store: Store, ctx: ReconcileContext, app: App, rows: readonly AppVolumeRow[], options: AppVolumesOptions): Promise<VolumeClaim[]> {
  const key = `${app.metadata.namespace}/${app.metadata.name}`;
  const keys = appVolumeKeys(app);
  const { claims, claimed } = await fencedTx(store, ctx.fence, async (tx) => {
    await tx.query(lockVolumeClaims, []);
    const fresh = await tx.query<VolumeClaim>(claimsOfVolumes, [keys]);
    const now = planAppVolumes(app, { rows, claims: fresh }, options);
    if (!('claim' in now)) return { claims: fresh, claimed: [] as readonly string[] };
    await tx.query(insertVolumeClaims, [now.claim, key]);
    return { claims: [...fresh, ...now.claim.map((volume) => ({ volume, app: key }))], claimed: now.claim };
  });
  if (claimed.length > 0) ctx.log.info({ volumes: claimed }, 'volumes claimed');
  return claims;
}

/**
 * One attempt at binding the unbound volumes to one node: where the others already are, else the
 * node binding chooses. The commit locks the node row and re-checks its free disk in a fresh
 * statement, so two replicas binding at once never promise the same disk twice (as instance
 * placement does); before that it takes the tenant's volume lock and re-checks its volume and
 * storage quota the same way.
 */
async function bind(store: Store, ctx: ReconcileContext, app: App, step: VolumeBind, options: ResolveOptions): Promise<VolumeBindResult> {
  const [over] = await store.query<{ key: string; usage: number; size: number }>(tenantVolumeOverSize, [step.volumes[0]!]);
  if (over) return { overSize: over };
  let node = step.node;
  if (!node) {
    const nodes = (await liveNodes(store, options.liveWithinMs, { allowUnisolated: options.allowUnisolatedNodes })).map((n) => ({ ...n, maxInstances: options.maxInstancesPerNode }));
    const choice = chooseVolumeNode(nodes, { size: step.size, memory: options.memory, nodeSelector: app.spec?.placement?.nodeSelector ?? {} });
    if ('message' in choice) return choice;
    node = choice.node;
  }
  const chosen = node;
  const result = await fencedTx(store, ctx.fence, async (tx): Promise<VolumeBindResult> => {
    const quota = options.quota;
    if (quota && (quota.limits.volumes !== undefined || quota.limits.storage !== undefined)) {
      await tx.query(lockTenantVolumes, [quota.tenant]);
      const [held] = await tx.query<{ volumes: number; storage: number }>(tenantBoundVolumes, [quota.tenant]);
      const over = volumeQuotaVerdict(quota.tenant, quota.limits, held ?? { volumes: 0, storage: 0 }, { volumes: step.volumes.length, storage: step.size });
      if (over) return { quota: over };
    }
    await tx.query(lockNodes, [[chosen]]);
    const [free] = await tx.query<{ free: number }>(nodeFreeDisk, [chosen]);
    if (!free || free.free < step.size) return { taken: true };
    for (const volume of step.volumes) await tx.query(bindVolume, [volume, chosen, String(ctx.fence)]);
    return { node: chosen };
  });
  if ('node' in result) ctx.log.info({ volumes: step.volumes, node: chosen }, 'volumes bound');
  return result;
}
