/**
 * `npm run crds`: writes crds/tend.dev_<plural>.yaml for every kind from schemas/, and
 * crds/Kustomization listing them (what manifests/base installs).
 * A unit test (test/unit/api/crd.test.ts) fails when the files are older than the schemas.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { CRD_KUSTOMIZATION_FILE, crdFileName, renderCrdFile, renderCrdKustomization } from './crd-file.js';
import { KINDS } from './kinds.js';
import { schemasDir } from './load-schema.js';

const root = dirname(schemasDir());
const out = join(root, 'crds');
mkdirSync(out, { recursive: true });
for (const info of KINDS) {
  const path = join(out, crdFileName(info));
  writeFileSync(path, renderCrdFile(info));
  console.log(`wrote ${relative(process.cwd(), path) || path}`);
}
const kustomization = join(out, CRD_KUSTOMIZATION_FILE);
writeFileSync(kustomization, renderCrdKustomization(KINDS));
console.log(`wrote ${relative(process.cwd(), kustomization) || kustomization}`);
