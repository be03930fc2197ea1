/**
 * manifests/argocd/argocd-cm-patch.yaml does what the README says: `kubectl patch --patch-file`
 * merges the health checks into an existing argocd-cm on a real API server, keeping its other keys.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARGOCD_CM_PATCH, healthCheckDir } from '../../../api/argocd-cm.js';
import { KINDS } from '../../../api/kinds.js';
import { kubectl } from '../../env/context.js';
import { REPO_ROOT } from '../../env/environment.js';

describe('the argocd-cm patch on a real API server', () => {
  it('adds one health check per kind to argocd-cm and keeps what was there', async () => {
    await kubectl('create', 'namespace', 'argocd');
    await kubectl('-n', 'argocd', 'create', 'configmap', 'argocd-cm', '--from-literal=url=https://argocd.example');
    await kubectl('-n', 'argocd', 'patch', 'configmap', 'argocd-cm', '--patch-file', join(REPO_ROOT, ARGOCD_CM_PATCH));
    const data = (JSON.parse(await kubectl('-n', 'argocd', 'get', 'configmap', 'argocd-cm', '-o', 'json')) as { data: Record<string, string> }).data;
    expect(data.url).toBe('https://argocd.example');
    for (const { kind } of KINDS) {
      expect(data[`resource.customizations.health.tend.dev_${kind}`]).toBe(readFileSync(join(REPO_ROOT, healthCheckDir(kind), 'health.lua'), 'utf8'));
    }
  });
});
