/**
 * The registry of tend's five kinds: names, scope and `kubectl get` columns.
 *
 * Short names are tend-specific on purpose. They must not shadow the short names of core
 * Kubernetes or of operators often installed next to tend:
 *
 *   kind    short name   avoided
 *   Tenant  tnt          —
 *   Node    tnode        no (core Node), node
 *   App     tapp         app, apps, application (Argo CD), appproj, appset
 *   Route   troute       route (OpenShift, Knative), rt (Knative), kroute
 *   Volume  tvol         pv, pvc, vol (core storage), volumesnapshot (CSI)
 *
 * All five share the category `tend`, so `kubectl get tend` lists everything.
 */

/** The API group of every tend kind. */
export const GROUP = 'tend.dev';
/** The only served (and stored) version. */
export const VERSION = 'v1alpha1';
/** apiVersion as written in manifests. */
export const API_VERSION = `${GROUP}/${VERSION}`;
/** The category every kind is listed under (`kubectl get tend`). */
export const CATEGORY = 'tend';

/** One column of `kubectl get` output (a CRD additionalPrinterColumn). */
export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description: string;
  /** 0: always shown; 1: only with `-o wide`. */
  readonly priority?: number;
}

/** Everything about a kind that is not in its JSON Schema. */
export interface KindInfo {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly scope: 'Cluster' | 'Namespaced';
  readonly shortNames: readonly string[];
  /** File name under schemas/. */
  readonly schemaFile: string;
  readonly printerColumns: readonly PrinterColumn[];
  /** The scale subresource, for kinds that `kubectl scale` can resize. */
  readonly scale?: { readonly specReplicasPath: string; readonly statusReplicasPath: string };
}

const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether everything in spec is in place (the Ready condition).',
};
const reasonColumn: PrinterColumn = {
  name: 'Reason',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  description: 'Why the object is or is not ready.',
};
const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
};

/** The five kinds, in the order they are usually applied. */
export const KINDS: readonly KindInfo[] = [
  {
    kind: 'Tenant',
    plural: 'tenants',
    singular: 'tenant',
    scope: 'Cluster',
    shortNames: ['tnt'],
    schemaFile: 'tenant.schema.json',
    printerColumns: [
      readyColumn,
      { name: 'Suspended', type: 'boolean', jsonPath: '.spec.suspended', description: 'Whether the tenant is suspended.' },
      { name: 'Memory', type: 'string', jsonPath: '.status.usage.memory', description: 'Memory in use.', priority: 1 },
      { name: 'Apps', type: 'integer', jsonPath: '.status.usage.apps', description: 'Number of Apps.', priority: 1 },
      reasonColumn,
      ageColumn,
    ],
  },
  {
    kind: 'Node',
    plural: 'nodes',
    singular: 'node',
    scope: 'Cluster',
    shortNames: ['tnode'],
    schemaFile: 'node.schema.json',
    printerColumns: [
      readyColumn,
      { name: 'Address', type: 'string', jsonPath: '.spec.address', description: 'Where the node agent is reached.' },
      {
        name: 'Allocatable-Memory',
        type: 'string',
        jsonPath: '.status.allocatable.memory',
        description: 'Memory that apps may use on the node.',
      },
      { name: 'Instances', type: 'integer', jsonPath: '.status.instances', description: 'App instances on the node.' },
      {
        name: 'Unschedulable',
        type: 'boolean',
        jsonPath: '.spec.unschedulable',
        description: 'Whether the node is cordoned.',
        priority: 1,
      },
      reasonColumn,
      ageColumn,
    ],
  },
  {
    kind: 'App',
    plural: 'apps',
    singular: 'app',
    scope: 'Namespaced',
    shortNames: ['tapp'],
    schemaFile: 'app.schema.json',
    printerColumns: [
      readyColumn,
      { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas', description: 'Instances asked for.' },
      {
        name: 'Healthy',
        type: 'integer',
        jsonPath: '.status.readyReplicas',
        description: 'Instances that pass their health check.',
      },
      { name: 'Revision', type: 'string', jsonPath: '.status.revision', description: 'Current revision: a hash of what an instance runs.' },
      reasonColumn,
      ageColumn,
      // kubectl get -o wide: the sentence behind the reason (restarts and last exit of a crash loop, …).
      { name: 'Message', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].message', description: 'What the Ready condition says.', priority: 1 },
    ],
    scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' },
  },
  {
    kind: 'Route',
    plural: 'routes',
    singular: 'route',
    scope: 'Namespaced',
    shortNames: ['troute'],
    schemaFile: 'route.schema.json',
    printerColumns: [
      readyColumn,
      { name: 'Host', type: 'string', jsonPath: '.spec.host', description: 'Host name served.' },
      { name: 'Path', type: 'string', jsonPath: '.spec.pathPrefix', description: 'Path prefix served.', priority: 1 },
      { name: 'App', type: 'string', jsonPath: '.spec.app', description: 'App that receives the requests.' },
      reasonColumn,
      ageColumn,
    ],
  },
  {
    kind: 'Volume',
    plural: 'volumes',
    singular: 'volume',
    scope: 'Namespaced',
    shortNames: ['tvol'],
    schemaFile: 'volume.schema.json',
    printerColumns: [
      readyColumn,
      { name: 'Size', type: 'string', jsonPath: '.spec.size', description: 'Size asked for.' },
      { name: 'Node', type: 'string', jsonPath: '.status.node', description: 'Node that holds the volume.' },
      { name: 'Usage', type: 'string', jsonPath: '.status.usage', description: 'Data stored now.', priority: 1 },
      reasonColumn,
      ageColumn,
    ],
  },
];

/** The registry entry for a kind name such as "App", or undefined. */
export function findKind(kind: string): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind);
}
