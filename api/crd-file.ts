/**
 * The generated CRD files under crds/: their names and exact text, so that the generator writes
 * them and a unit test can tell when they are stale.
 */
import { stringify } from 'yaml';
import { buildCrd } from './crd.js';
import { GROUP, type KindInfo } from './kinds.js';
import { loadSchema } from './load-schema.js';

/** The file name of a kind's CRD under crds/, e.g. tend.dev_apps.yaml. */
export function crdFileName(info: KindInfo): string {
  return `${GROUP}_${info.plural}.yaml`;
}

/** The full text of a kind's CRD file, generated from its schema. */
export function renderCrdFile(info: KindInfo, schemasDir?: string): string {
  const crd = buildCrd(info, loadSchema(info.schemaFile, schemasDir));
  const header = [
    `# generated from schemas/${info.schemaFile} (and schemas/common.schema.json) by npm run crds; do not edit`,
    '---',
  ].join('\n');
  return `${header}\n${stringify(crd, { lineWidth: 0 })}`;
}
