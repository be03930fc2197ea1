/**
 * `tend validate`'s engine: checks tend.dev documents as the API server would on create (and,
 * for a document that repeats an earlier kind/namespace/name, on update), without a cluster.
 *
 * Per document, in the API server's order: drop `status` (a subresource: create and update
 * ignore it), apply schema defaults, check metadata.name, the OpenAPI schema (ajv), list
 * uniqueness, and then — unless an earlier error is one that makes the API server skip them —
 * the schemas' CEL rules, with transition rules comparing against the earlier document.
 * Documents of other API groups are skipped and listed as such.
 */
import { readFileSync } from 'node:fs';
import { checkRules } from './cel-rules.js';
import { applyDefaults } from './defaults.js';
import { invalid, isBlocking, notSupported, required, type FieldError } from './field-error.js';
import { API_VERSION, GROUP, KINDS, findKind, type KindInfo } from './kinds.js';
import { checkListTypes } from './list-types.js';
import { loadSchema, type JsonSchema } from './load-schema.js';
import { findManifestFiles } from './manifest-files.js';
import { parseManifests, type Manifest, type ManifestSyntaxError } from './manifests.js';
import { checkSchema } from './schema-check.js';

/** One problem, located by file, object and field. */
export interface ValidationIssue {
  readonly file: string;
  /** Line where the document starts (or where the YAML error is). */
  readonly line: number;
  /** Empty for documents that are not objects, and for YAML syntax errors. */
  readonly kind: string;
  /** Empty for cluster-scoped kinds. */
  readonly namespace: string;
  readonly name: string;
  /** Kubernetes field path, e.g. spec.resources.memory; empty for whole-document problems. */
  readonly field: string;
  readonly message: string;
}

/** A document left alone because it is not a tend.dev object. */
export interface SkippedDocument {
  readonly file: string;
  readonly line: number;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
}

/** The outcome of validating a set of documents. */
export interface ValidationReport {
  readonly issues: readonly ValidationIssue[];
  readonly skipped: readonly SkippedDocument[];
  /** Number of tend.dev documents checked. */
  readonly checked: number;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Validate the YAML files and folders (walked for *.yaml, *.yml) in order; a missing path throws ManifestPathError. */
export function validateFiles(paths: readonly string[]): ValidationReport {
  const manifests: Manifest[] = [];
  const syntaxErrors: ManifestSyntaxError[] = [];
  for (const file of paths.flatMap(findManifestFiles)) {
    const parsed = parseManifests(file, readFileSync(file, 'utf8'));
    manifests.push(...parsed.manifests);
    syntaxErrors.push(...parsed.errors);
  }
  return validateManifests(manifests, syntaxErrors);
}

/** Validate YAML text as if it were the file named `file`. */
export function validateText(file: string, text: string): ValidationReport {
  const parsed = parseManifests(file, text);
  return validateManifests(parsed.manifests, parsed.errors);
}

/** Validate parsed documents in order; a repeated object is checked as an update of the last valid one. */
export function validateManifests(
  manifests: readonly Manifest[],
  syntaxErrors: readonly ManifestSyntaxError[] = [],
): ValidationReport {
  const issues: ValidationIssue[] = syntaxErrors.map((e) => ({
    file: e.file,
    line: e.line,
    kind: '',
    namespace: '',
    name: '',
    field: '',
    message: e.message,
  }));
  const skipped: SkippedDocument[] = [];
  const stored = new Map<string, unknown>();
  let checked = 0;

  for (const manifest of manifests) {
    const object = manifest.object;
    if (!isObject(object)) {
      issues.push({ ...at(manifest, '', '', ''), field: '', message: 'not a Kubernetes object: expected a mapping with apiVersion and kind' });
      continue;
    }
    const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : '';
    const kind = typeof object.kind === 'string' ? object.kind : '';
    const metadata = isObject(object.metadata) ? object.metadata : {};
    const name = typeof metadata.name === 'string' ? metadata.name : '';
    if (apiVersion && !apiVersion.startsWith(`${GROUP}/`)) {
      skipped.push({ file: manifest.file, line: manifest.line, apiVersion, kind, name });
      continue;
    }
    checked++;
    const info = findKind(kind);
    const namespace = info?.scope === 'Cluster' ? '' : typeof metadata.namespace === 'string' ? metadata.namespace : 'default';
    const report = (errors: readonly FieldError[]): void => {
      for (const e of errors) issues.push({ ...at(manifest, kind, namespace, name), field: e.field, message: e.message });
    };

    const headerErrors = checkHeader(apiVersion, kind, info);
    if (headerErrors.length > 0 || !info) {
      report(headerErrors);
      continue;
    }
    const key = `${kind}/${namespace}/${name}`;
    const { errors, defaulted } = checkObject(object, info, name ? stored.get(key) : undefined);
    report(errors);
    if (errors.length === 0 && name) stored.set(key, defaulted);
  }
  return { issues: byFileAndLine(issues, manifests), skipped, checked };
}

/** Issues in file order (as the documents were given), then by line. */
function byFileAndLine(issues: ValidationIssue[], manifests: readonly Manifest[]): ValidationIssue[] {
  const rank = new Map<string, number>();
  for (const { file } of [...manifests, ...issues]) if (!rank.has(file)) rank.set(file, rank.size);
  return issues.sort((a, b) => (rank.get(a.file) ?? 0) - (rank.get(b.file) ?? 0) || a.line - b.line);
}

/** One issue as one line: `examples/app.yaml: App default/web: spec.resources.memory: Required value`. */
export function formatIssue(issue: ValidationIssue): string {
  if (!issue.kind) return `${issue.file}:${issue.line}: ${issue.message}`;
  const object = `${issue.kind} ${issue.namespace ? `${issue.namespace}/` : ''}${issue.name || '<no name>'}`;
  return `${issue.file}: ${object}: ${issue.field ? `${issue.field}: ` : ''}${issue.message}`;
}

/** One skipped document as one line. */
export function formatSkipped(doc: SkippedDocument): string {
  const what = [doc.kind || '<no kind>', doc.name].filter(Boolean).join(' ');
  return `${doc.file}:${doc.line}: skipped ${what}: ${doc.apiVersion} is not a ${GROUP} API version`;
}

function checkHeader(apiVersion: string, kind: string, info: KindInfo | undefined): FieldError[] {
  const errors: FieldError[] = [];
  if (!apiVersion) errors.push(required('apiVersion'));
  else if (apiVersion !== API_VERSION) errors.push(notSupported('apiVersion', apiVersion, [API_VERSION]));
  if (!kind) errors.push(required('kind'));
  else if (!info) errors.push(notSupported('kind', kind, KINDS.map((k) => k.kind)));
  return errors;
}

/**
 * Admission of one object as the API server does it on create (`old` absent) or update: the
 * object with schema defaults applied, or the field errors that reject it.
 */
export function admitObject(object: unknown, old?: unknown): { errors: FieldError[]; admitted: unknown } {
  if (!isObject(object)) return { errors: [invalid('', object, 'expected an object')], admitted: object };
  const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : '';
  const kind = typeof object.kind === 'string' ? object.kind : '';
  const info = findKind(kind);
  const headerErrors = checkHeader(apiVersion, kind, info);
  if (headerErrors.length > 0 || !info) return { errors: headerErrors, admitted: object };
  const { errors, defaulted } = checkObject(object, info, old === undefined ? undefined : stripStatus(old));
  return { errors, admitted: defaulted };
}

function stripStatus(object: unknown): unknown {
  if (!isObject(object)) return object;
  const { status: _status, ...rest } = object;
  return rest;
}

const schemas = new Map<string, JsonSchema>();

function checkObject(
  object: Record<string, unknown>,
  info: KindInfo,
  old: unknown,
): { errors: FieldError[]; defaulted: unknown } {
  let schema = schemas.get(info.kind);
  if (!schema) {
    schema = loadSchema(info.schemaFile);
    schemas.set(info.kind, schema);
  }
  const { status: _status, ...rest } = structuredClone(object);
  const defaulted = applyDefaults(rest, schema);
  const errors = [
    ...checkMetadata(defaulted.metadata, info),
    ...checkSchema(defaulted, schema),
    ...checkListTypes(defaulted, schema),
  ];
  if (!errors.some(isBlocking)) {
    errors.push(...(old === undefined ? checkRules(defaulted, schema) : checkRules(defaulted, schema, old)));
  }
  return { errors, defaulted };
}

function checkMetadata(metadata: unknown, info: KindInfo): FieldError[] {
  if (!isObject(metadata)) return [required('metadata.name', 'name or generateName is required')];
  const errors: FieldError[] = [];
  const { name, generateName, namespace } = metadata;
  if (name === undefined || name === '') {
    if (!generateName) errors.push(required('metadata.name', 'name or generateName is required'));
  } else if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    errors.push(invalid('metadata.name', name, 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character'));
  }
  if (info.scope === 'Namespaced' && namespace !== undefined) {
    if (typeof namespace !== 'string' || namespace.length > 63 || !DNS_LABEL.test(namespace)) {
      errors.push(invalid('metadata.namespace', namespace, 'a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character'));
    }
  }
  return errors;
}

function at(manifest: Manifest, kind: string, namespace: string, name: string) {
  return { file: manifest.file, line: manifest.line, kind, namespace, name };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
