/**
 * The tend.dev API: the five kinds, their schemas, their CRDs, and offline validation.
 *
 * Design notes
 * - schemas/*.schema.json are the single source of truth. Everything here reads them: the CRD
 *   generator (crd.ts, `npm run crds`) and `tend validate` (validate.ts). Nothing restates a
 *   schema rule in TypeScript: even the CEL rules (`x-kubernetes-validations`) are evaluated
 *   from the schemas, with the Kubernetes CEL functions they need (cel-environment.ts).
 * - Validation follows the API server's order and wording: drop status, default, check
 *   metadata, OpenAPI schema (ajv), list uniqueness, then CEL rules unless an earlier error
 *   blocks them; errors name fields as the API server does (`spec.volumes[0].mountPath`).
 *   test/fixtures/invalid/ holds one file per rejected input with the field both must name.
 * - Quantities are exact (nano-units as bigint), never floats (quantity.ts).
 *
 * Example
 * ```ts
 * import { formatIssue, validateText, KINDS, buildCrd, loadSchema } from './api/index.js';
 *
 * const report = validateText('web.yaml', `
 * apiVersion: tend.dev/v1alpha1
 * kind: App
 * metadata: {name: web}
 * spec:
 *   command: [node, server.mjs]
 *   resources: {memory: 512MB}
 * `);
 * for (const issue of report.issues) console.error(formatIssue(issue));
 * // web.yaml: App default/web: spec.resources.memory: Invalid value: "512MB": should match '…'
 *
 * const app = KINDS.find((k) => k.kind === 'App')!;
 * const crd = buildCrd(app, loadSchema(app.schemaFile)); // apiextensions.k8s.io/v1 object
 * ```
 *
 * @module
 */
export { API_VERSION, CATEGORY, GROUP, KINDS, VERSION, findKind, type KindInfo, type PrinterColumn } from './kinds.js';
export { SchemaLoadError, loadSchema, schemasDir, type JsonSchema } from './load-schema.js';
export { CrdSchemaError, buildCrd, type CustomResourceDefinition } from './crd.js';
export { crdFileName, renderCrdFile } from './crd-file.js';
export { Quantity, QuantityError, isQuantity } from './quantity.js';
export type { FieldError, FieldErrorType } from './field-error.js';
export {
  formatIssue,
  formatSkipped,
  validateFiles,
  validateManifests,
  validateText,
  type SkippedDocument,
  type ValidationIssue,
  type ValidationReport,
} from './validate.js';
export { parseManifests, type Manifest, type ManifestSyntaxError } from './manifests.js';
