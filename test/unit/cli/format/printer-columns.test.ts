import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KINDS } from '../../../../api/kinds.js';
import { schemasDir } from '../../../../api/load-schema.js';
import { JsonPathError, compileJsonPath, evaluateJsonPath, printerColumns } from '../../../../cli/format/printer-columns.js';

const crdsDir = join(dirname(schemasDir()), 'crds');

interface CrdColumns {
  spec: { names: { kind: string }; versions: { additionalPrinterColumns: { name: string; type: string; jsonPath: string }[] }[] };
}

const crds = readdirSync(crdsDir)
  .filter((file) => file.endsWith('.yaml'))
  .map((file) => parse(readFileSync(join(crdsDir, file), 'utf8')) as CrdColumns);

const app = {
  apiVersion: 'tend.dev/v1alpha1',
  kind: 'App',
  metadata: { name: 'web', namespace: 'shop', creationTimestamp: '2025-03-01T10:00:00Z' },
  spec: { replicas: 3, command: ['node', 'server.mjs'], resources: { memory: '256Mi' } },
  status: {
    replicas: 3,
    readyReplicas: 2,
    revision: '5d8c7f',
    conditions: [
      { type: 'Progressing', status: 'True', reason: 'RollingOut' },
      { type: 'Ready', status: 'False', reason: 'ReplicasNotReady', message: '2 of 3 instances healthy' },
    ],
  },
};

describe('printerColumns', () => {
  it('gives the columns of the kind registry, wide ones included', () => {
    expect(printerColumns('App').map((c) => c.name)).toEqual(['Ready', 'Desired', 'Healthy', 'Revision', 'Reason', 'Age', 'Message']);
    expect(printerColumns('App').find((c) => c.name === 'Message')?.priority).toBe(1);
    expect(printerColumns('Route').find((c) => c.name === 'Path')?.priority).toBe(1);
  });

  it('gives the same columns as every generated CRD under crds/', () => {
    expect(crds.map((crd) => crd.spec.names.kind).sort()).toEqual(KINDS.map((k) => k.kind).sort());
    for (const crd of crds) {
      const fromYaml = crd.spec.versions[0]?.additionalPrinterColumns.map(({ name, type, jsonPath }) => ({ name, type, jsonPath }));
      const fromRegistry = printerColumns(crd.spec.names.kind).map(({ name, type, jsonPath }) => ({ name, type, jsonPath }));
      expect(fromRegistry).toEqual(fromYaml);
    }
  });

  it('throws for a kind tend does not have', () => {
    expect(() => printerColumns('Pod')).toThrow('unknown kind Pod');
  });
});

describe('compileJsonPath', () => {
  it('compiles every jsonPath in crds/', () => {
    const paths = crds.flatMap((crd) => crd.spec.versions.flatMap((v) => v.additionalPrinterColumns.map((c) => c.jsonPath)));
    expect(paths.length).toBeGreaterThanOrEqual(KINDS.length * 3);
    for (const path of paths) expect(() => compileJsonPath(path), path).not.toThrow();
  });

  it('reads fields, indexes, wildcards and equality filters', () => {
    expect(compileJsonPath('.status.conditions[?(@.type=="Ready")].status')).toEqual([
      { op: 'field', name: 'status' },
      { op: 'field', name: 'conditions' },
      { op: 'filter', left: ['type'], equals: 'Ready' },
      { op: 'field', name: 'status' },
    ]);
    expect(compileJsonPath('.spec.command[1]')).toEqual([{ op: 'field', name: 'spec' }, { op: 'field', name: 'command' }, { op: 'index', index: 1 }]);
    expect(compileJsonPath('.status.conditions[*].type')[2]).toEqual({ op: 'all' });
    expect(compileJsonPath(".items[?(@.a.b=='x')]")[1]).toEqual({ op: 'filter', left: ['a', 'b'], equals: 'x' });
    expect(compileJsonPath('.items[?(@.port==8080)]')[1]).toEqual({ op: 'filter', left: ['port'], equals: 8080 });
  });

  it.each([
    ['$.spec.replicas', 'starts with "."'],
    ['.spec..replicas', 'expected a field name'],
    ['.spec.command[0:2]', 'unsupported "[0:2]"'],
    ['.spec.command[-1]', 'unsupported "[-1]"'],
    ['.status.conditions[?(@.type!="Ready")]', 'unsupported'],
    ['.status.conditions[0', 'missing "]"'],
    ['.spec.replicas}', 'unexpected "}"'],
  ])('rejects %s', (path, message) => {
    expect(() => compileJsonPath(path)).toThrow(JsonPathError);
    expect(() => compileJsonPath(path)).toThrow(message);
  });
});

describe('evaluateJsonPath', () => {
  it('selects a condition by type and reads its fields', () => {
    expect(evaluateJsonPath(app, '.status.conditions[?(@.type=="Ready")].status')).toEqual(['False']);
    expect(evaluateJsonPath(app, '.status.conditions[?(@.type=="Ready")].reason')).toEqual(['ReplicasNotReady']);
    expect(evaluateJsonPath(app, '.status.conditions[?(@.type=="Progressing")].reason')).toEqual(['RollingOut']);
  });

  it('reads plain fields of any JSON type', () => {
    expect(evaluateJsonPath(app, '.spec.replicas')).toEqual([3]);
    expect(evaluateJsonPath(app, '.metadata.creationTimestamp')).toEqual(['2025-03-01T10:00:00Z']);
    expect(evaluateJsonPath(app, '.spec.resources')).toEqual([{ memory: '256Mi' }]);
  });

  it('finds nothing, without an error, where a field is missing', () => {
    const created = { metadata: { name: 'web' }, spec: { replicas: 1 } };
    expect(evaluateJsonPath(created, '.status.readyReplicas')).toEqual([]);
    expect(evaluateJsonPath(created, '.status.conditions[?(@.type=="Ready")].status')).toEqual([]);
    expect(evaluateJsonPath(app, '.status.conditions[?(@.type=="Degraded")].status')).toEqual([]);
  });

  it('keeps an explicit null, but finds nothing below it', () => {
    const obj = { status: { revision: null, usage: null } };
    expect(evaluateJsonPath(obj, '.status.revision')).toEqual([null]);
    expect(evaluateJsonPath(obj, '.status.usage.memory')).toEqual([]);
  });

  it('finds no field of an array or a string', () => {
    expect(evaluateJsonPath(app, '.status.conditions.type')).toEqual([]);
    expect(evaluateJsonPath(app, '.status.revision.length')).toEqual([]);
  });

  it('indexes arrays and fails past the end', () => {
    expect(evaluateJsonPath(app, '.spec.command[1]')).toEqual(['server.mjs']);
    expect(evaluateJsonPath(app, '.status.conditions[0].type')).toEqual(['Progressing']);
    expect(evaluateJsonPath(app, '.spec.command[2]')).toEqual([]);
    expect(evaluateJsonPath(app, '.spec.replicas[0]')).toEqual([]);
  });

  it('expands [*] over arrays and object values', () => {
    expect(evaluateJsonPath(app, '.status.conditions[*].type')).toEqual(['Progressing', 'Ready']);
    expect(evaluateJsonPath(app, '.spec.resources[*]')).toEqual(['256Mi']);
  });

  it('returns every match of a filter, in order', () => {
    const obj = { items: [{ port: 80, name: 'a' }, { port: 8080, name: 'b' }, { port: 80, name: 'c' }] };
    expect(evaluateJsonPath(obj, '.items[?(@.port==80)].name')).toEqual(['a', 'c']);
  });

  it('fails the whole path, like client-go, when a filtered element lacks the field or has another type', () => {
    const untyped = { status: { conditions: [{ status: 'True' }, { type: 'Ready', status: 'True' }] } };
    expect(evaluateJsonPath(untyped, '.status.conditions[?(@.type=="Ready")].status')).toEqual([]);
    const numeric = { status: { conditions: [{ type: 1, status: 'True' }, { type: 'Ready', status: 'True' }] } };
    expect(evaluateJsonPath(numeric, '.status.conditions[?(@.type=="Ready")].status')).toEqual([]);
    const notAList = { status: { conditions: { type: 'Ready', status: 'True' } } };
    expect(evaluateJsonPath(notAList, '.status.conditions[?(@.type=="Ready")].status')).toEqual([]);
  });

  it('accepts a compiled path', () => {
    const path = compileJsonPath('.status.readyReplicas');
    expect(evaluateJsonPath(app, path)).toEqual([2]);
  });
});
