/**
 * Kind → CustomResourceDefinition (apiextensions.k8s.io/v1), as a pure function of the kind
 * registry and the inlined JSON Schema.
 *
 * The JSON Schemas are written for ajv as much as for Kubernetes, so a few things are removed on
 * the way: `$schema`, `$id`, `$comment` and `$defs` (structural schemas forbid or ignore them) and
 * `additionalProperties: false` (forbidden next to `properties`; the API server prunes unknown
 * fields, or rejects them under strict field validation, on its own). Any keyword Kubernetes does
 * not know is an error, so a schema cannot silently mean less in the cluster than in tests.
 * The root `metadata` is reduced to `{type: object}` plus any restriction of `name` (an App's
 * name is shorter than other objects'): the API server allows nothing else there and explains
 * ObjectMeta from its own documentation.
 */
import { CATEGORY, GROUP, VERSION, type KindInfo, type PrinterColumn } from './kinds.js';
import type { JsonSchema } from './load-schema.js';

/** The parts of a CustomResourceDefinition that tend writes. */
export interface CustomResourceDefinition {
  readonly apiVersion: 'apiextensions.k8s.io/v1';
  readonly kind: 'CustomResourceDefinition';
  readonly metadata: { readonly name: string; readonly labels: Readonly<Record<string, string>> };
  readonly spec: {
    readonly group: string;
    readonly names: {
      readonly kind: string;
      readonly listKind: string;
      readonly plural: string;
      readonly singular: string;
      readonly shortNames: readonly string[];
      readonly categories: readonly string[];
    };
    readonly scope: 'Cluster' | 'Namespaced';
    readonly versions: readonly CustomResourceDefinitionVersion[];
  };
}

/** One served version of a CRD. */
export interface CustomResourceDefinitionVersion {
  readonly name: string;
  readonly served: boolean;
  readonly storage: boolean;
  readonly subresources: {
    readonly status: Record<string, never>;
    readonly scale?: { readonly specReplicasPath: string; readonly statusReplicasPath: string };
  };
  readonly additionalPrinterColumns: readonly PrinterColumn[];
  readonly schema: { readonly openAPIV3Schema: JsonSchema };
}

/** Thrown when a schema uses something a CRD cannot express. */
export class CrdSchemaError extends Error {
  override name = 'CrdSchemaError';
}

/** The CRD for a kind, given its inlined schema (see loadSchema). */
export function buildCrd(info: KindInfo, schema: JsonSchema): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'tend' } },
    spec: {
      group: GROUP,
      names: {
        kind: info.kind,
        listKind: `${info.kind}List`,
        plural: info.plural,
        singular: info.singular,
        shortNames: [...info.shortNames],
        categories: [CATEGORY],
      },
      scope: info.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: info.scale ? { status: {}, scale: { ...info.scale } } : { status: {} },
          additionalPrinterColumns: info.printerColumns.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: rootSchema(schema) },
        },
      ],
    },
  };
}

/** Keywords of apiextensions.k8s.io/v1 JSONSchemaProps that structural schemas allow. */
const KUBERNETES_KEYWORDS = new Set([
  'description', 'type', 'format', 'title', 'default', 'maximum', 'exclusiveMaximum', 'minimum',
  'exclusiveMinimum', 'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'multipleOf',
  'enum', 'maxProperties', 'minProperties', 'required', 'items', 'allOf', 'oneOf', 'anyOf', 'not',
  'properties', 'additionalProperties', 'externalDocs', 'example', 'nullable',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string', 'x-kubernetes-list-map-keys', 'x-kubernetes-list-type',
  'x-kubernetes-map-type', 'x-kubernetes-validations',
]);
/** Keywords that only matter to JSON Schema tooling; dropped silently. */
const DROPPED_KEYWORDS = new Set(['$schema', '$id', '$comment', '$defs']);

/**
 * The root schema: also, metadata may say nothing but its type and restrictions of name and
 * generateName (the API server knows ObjectMeta, and allows nothing else there).
 */
function rootSchema(schema: JsonSchema): JsonSchema {
  const root = toStructural(schema, 'openAPIV3Schema');
  const properties = root.properties as JsonSchema | undefined;
  if (properties?.metadata) {
    const fields = ((properties.metadata as JsonSchema).properties ?? {}) as Record<string, JsonSchema>;
    const unexpected = Object.keys(fields).filter((name) => name !== 'name' && name !== 'generateName');
    if (unexpected.length > 0) throw new CrdSchemaError(`openAPIV3Schema.properties.metadata: only name and generateName may be restricted, not ${unexpected.join(', ')}`);
    properties.metadata = Object.keys(fields).length > 0 ? { type: 'object', properties: fields } : { type: 'object' };
  }
  return root;
}

function toStructural(schema: JsonSchema, at: string): JsonSchema {
  const out: JsonSchema = {};
  for (const [keyword, value] of Object.entries(schema)) {
    const here = `${at}.${keyword}`;
    if (DROPPED_KEYWORDS.has(keyword)) continue;
    if (!KUBERNETES_KEYWORDS.has(keyword)) throw new CrdSchemaError(`${here}: Kubernetes does not know this keyword`);
    if (keyword === 'additionalProperties') {
      if (value === false) continue;
      if (!isSchema(value)) throw new CrdSchemaError(`${here}: only false or a schema is supported`);
      out[keyword] = toStructural(value, here);
    } else if (keyword === 'properties' && isSchema(value)) {
      out[keyword] = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, toStructural(sub as JsonSchema, `${here}.${name}`)]),
      );
    } else if ((keyword === 'items' || keyword === 'not') && isSchema(value)) {
      out[keyword] = toStructural(value, here);
    } else if ((keyword === 'anyOf' || keyword === 'allOf' || keyword === 'oneOf') && Array.isArray(value)) {
      out[keyword] = value.map((sub, i) => toStructural(sub as JsonSchema, `${here}[${i}]`));
    } else {
      out[keyword] = structuredClone(value);
    }
  }
  return out;
}

function isSchema(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
