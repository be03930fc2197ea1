/**
 * `npm run argocd-cm`: writes manifests/argocd/argocd-cm-patch.yaml from the health checks in
 * resource_customizations/. A unit test (test/unit/api/argocd-cm.test.ts) fails when it is stale.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ARGOCD_CM_PATCH, renderArgocdCmPatch } from './argocd-cm.js';
import { schemasDir } from './load-schema.js';

const path = join(dirname(schemasDir()), ARGOCD_CM_PATCH);
mkdirSync(dirname(path), { recursive: true });
writeFileSync(path, renderArgocdCmPatch());
console.log(`wrote ${ARGOCD_CM_PATCH}`);
