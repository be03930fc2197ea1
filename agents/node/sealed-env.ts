/**
 * The agent's part of secrets delivery: its node's sealing key (made at the first start, 0600 in
 * the agent's state folder, which instances never see; the private key never leaves the host),
 * published on the node's row with every heartbeat for the controllers to seal to, and the step that opens an
 * instance's sealed environment just before it starts. An instance whose environment does not
 * open — or lacks a variable its template names — is refused (phase failed, SecretUnavailable):
 * it never runs with part of its environment.
 */
import { join } from 'node:path';
import { instanceEnvContext } from '../../secrets/instance-env.js';
import { loadOrCreateSealingKey } from '../../secrets/key-file.js';
import { SealError } from '../../secrets/seal-error.js';
import { open, type SealingKey } from '../../secrets/seal.js';
import type { InstanceTemplate } from '../../api/types/instance.js';
import type { Refusal } from './plan.js';

/** The node's key pair, made on first use in `stateDir`. */
export function nodeSealingKey(stateDir: string): SealingKey {
  return loadOrCreateSealingKey(join(stateDir, 'sealing.key'));
}

/** The columns of a row this step reads. */
export interface SealedRow {
  readonly id: string;
  readonly spec: InstanceTemplate;
  readonly sealedEnv: string | null;
}

/** The rows with their Secrets' values added to `spec.env`, and the instances refused because they do not open. */
export function openSealedEnv<R extends SealedRow>(rows: readonly R[], key: SealingKey): { rows: R[]; refused: Map<string, Refusal> } {
  const refused = new Map<string, Refusal>();
  const opened = rows.map((row) => {
    const wanted = Array.isArray(row.spec?.secretEnv) ? row.spec.secretEnv.map((e) => e.name) : [];
    if (row.sealedEnv === null && wanted.length === 0) return row;
    const refuse = (why: string) => {
      refused.set(row.id, { reason: 'SecretUnavailable', message: `its environment from Secrets cannot be used on this node: ${why}` });
      return row;
    };
    if (row.sealedEnv === null) return refuse('it was placed without its sealed values');
    let env: unknown;
    try {
      env = JSON.parse(open(row.sealedEnv, key, instanceEnvContext(row.id)).toString('utf8'));
    } catch (err) {
      if (err instanceof SealError) return refuse(err.message);
      return refuse('the sealed values are not an environment');
    }
    if (typeof env !== 'object' || env === null || Array.isArray(env) || !Object.values(env).every((v) => typeof v === 'string')) return refuse('the sealed values are not an environment');
    const missing = wanted.filter((name) => !(name in env));
    if (missing.length > 0) return refuse(`no sealed value for ${missing.join(', ')}`);
    return { ...row, spec: { ...row.spec, env: { ...(row.spec.env ?? {}), ...(env as Record<string, string>) } } };
  });
  return { rows: opened, refused };
}
