import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CrdSchemaError, buildCrd, type CustomResourceDefinition } from '../../../api/crd.js';
import { CRD_KUSTOMIZATION_FILE, crdFileName, renderCrdFile, renderCrdKustomization } from '../../../api/crd-file.js';
import { CATEGORY, GROUP, KINDS, VERSION } from '../../../api/kinds.js';
import { loadSchema, schemasDir, type JsonSchema } from '../../../api/load-schema.js';

const crdsDir = join(dirname(schemasDir()), 'crds');

/** Short names of kinds often installed next to tend: core Kubernetes, Argo CD, Knative, OpenShift. */
const TAKEN_SHORT_NAMES = [
  'cm', 'cs', 'ds', 'deploy', 'ep', 'ev', 'hpa', 'ing', 'limits', 'netpol', 'no', 'ns', 'pdb', 'po', 'pv',
  'pvc', 'quota', 'rc', 'rs', 'sa', 'sc', 'sts', 'svc', 'crd', 'crds', 'csr', 'pc', 'psp',
  'app', 'apps', 'application', 'appproj', 'appprojs', 'appset', 'appsets',
  'ksvc', 'kservice', 'rt', 'route', 'kroute', 'cfg', 'config', 'rev', 'kconfig', 'krev',
  'vol', 'node', 'tenant', 'volume',
];

describe.each(KINDS)('the $kind CRD', (info) => {
  const crd = buildCrd(info, loadSchema(info.schemaFile));
  const version = crd.spec.versions[0];

  it('is named <plural>.tend.dev and serves and stores v1alpha1 only', () => {
    expect(crd.metadata.name).toBe(`${info.plural}.${GROUP}`);
    expect(crd.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([[VERSION, true, true]]);
  });

  it('is listed under the tend category', () => {
    expect(crd.spec.names.categories).toEqual([CATEGORY]);
  });

  it('has a status subresource', () => {
    expect(version?.subresources.status).toEqual({});
  });

  it('prints Ready, Reason and Age columns', () => {
    const columns = version?.additionalPrinterColumns ?? [];
    const names = columns.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['Ready', 'Reason', 'Age']));
    expect(new Set(names).size).toBe(names.length);
    expect(columns.find((c) => c.name === 'Ready')?.jsonPath).toBe('.status.conditions[?(@.type=="Ready")].status');
    expect(columns.find((c) => c.name === 'Reason')?.jsonPath).toBe('.status.conditions[?(@.type=="Ready")].reason');
    for (const c of columns) expect(c.description.length).toBeGreaterThan(5);
  });

  it('uses short names that no common Kubernetes kind uses', () => {
    expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
    for (const short of crd.spec.names.shortNames) expect(TAKEN_SHORT_NAMES).not.toContain(short);
  });

  it('has a structural schema: no $ref, $defs or $schema, no additionalProperties next to properties', () => {
    const schema = version?.schema.openAPIV3Schema as JsonSchema;
    const text = JSON.stringify(schema);
    expect(text).not.toMatch(/"\$(ref|defs|schema|id|comment)"/);
    const offenders: string[] = [];
    const visit = (s: JsonSchema, path: string): void => {
      if (s.properties && s.additionalProperties !== undefined) offenders.push(path);
      for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, JsonSchema>)) visit(v, `${path}.${k}`);
      if (typeof s.items === 'object') visit(s.items as JsonSchema, `${path}[]`);
    };
    visit(schema, '');
    expect(offenders).toEqual([]);
  });

  it('keeps descriptions, defaults and x-kubernetes-validations', () => {
    const text = JSON.stringify(version?.schema.openAPIV3Schema);
    expect(text).toContain('"description"');
    if (info.kind === 'App') expect(text).toContain('"default":1');
    if (info.kind === 'Volume') expect(text).toContain('x-kubernetes-validations');
  });

  it('reduces metadata to {type: object} and a bound on name, the only form the API server accepts', () => {
    const properties = version?.schema.openAPIV3Schema.properties as Record<string, JsonSchema>;
    if (info.kind === 'App') {
      // Instance ids are derived from the App's name (test/integration/api/crds.test.ts applies it).
      expect(properties.metadata).toEqual({ type: 'object', properties: { name: { type: 'string', description: expect.any(String), maxLength: 63 } } });
    } else {
      expect(properties.metadata).toEqual({ type: 'object' });
    }
  });
});

describe('the App CRD', () => {
  it('has a scale subresource on replicas, for kubectl scale', () => {
    const app = KINDS.find((k) => k.kind === 'App');
    const crd = buildCrd(app!, loadSchema(app!.schemaFile));
    expect(crd.spec.versions[0]?.subresources.scale).toEqual({
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
    });
  });
});

describe('buildCrd', () => {
  it('refuses keywords Kubernetes does not know', () => {
    const info = KINDS[0]!;
    expect(() => buildCrd(info, { type: 'object', properties: { a: { type: 'string', const: 'x' } } })).toThrow(CrdSchemaError);
    expect(() => buildCrd(info, { type: 'object', additionalProperties: true })).toThrow(CrdSchemaError);
  });
});

describe('the files in crds/', () => {
  it.each(KINDS)('hold the current CRD for $kind (else run npm run crds)', (info) => {
    const path = join(crdsDir, crdFileName(info));
    let onDisk = '';
    try {
      onDisk = readFileSync(path, 'utf8');
    } catch {
      expect.fail(`${path} is missing: run npm run crds`);
    }
    expect(onDisk === renderCrdFile(info), `${path} is stale: run npm run crds`).toBe(true);
  });

  it('are listed, all of them, in crds/Kustomization (else run npm run crds)', () => {
    const path = join(crdsDir, CRD_KUSTOMIZATION_FILE);
    expect(readFileSync(path, 'utf8') === renderCrdKustomization(KINDS), `${path} is stale: run npm run crds`).toBe(true);
    expect((parse(readFileSync(path, 'utf8')) as { resources: string[] }).resources).toEqual(KINDS.map(crdFileName));
  });

  it('start with a do-not-edit header and parse as one CRD each', () => {
    for (const info of KINDS) {
      const text = readFileSync(join(crdsDir, crdFileName(info)), 'utf8');
      expect(text.split('\n')[0]).toBe(
        `# generated from schemas/${info.schemaFile} (and schemas/common.schema.json) by npm run crds; do not edit`,
      );
      const crd = parse(text) as CustomResourceDefinition;
      expect(crd.kind).toBe('CustomResourceDefinition');
    }
  });
});
