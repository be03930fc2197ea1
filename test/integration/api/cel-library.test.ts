import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { QUANTITY_EXAMPLES, QUANTITY_NON_EXAMPLES } from '../../fixtures/cel/quantity-examples.js';
import { eventually } from '../../env/eventually.js';
import { kubectl } from '../../env/context.js';

const GROUP = 'probe.tend.dev';
const scratch = mkdtempSync(join(tmpdir(), 'tend-cel-library-'));
const created: string[] = [];

/** Writes a throwaway cluster-scoped CRD whose spec must satisfy every rule, and one object of it. */
function probeFiles(rules: readonly string[]): { crdName: string; crdFile: string; objectFile: string } {
  const suffix = randomBytes(3).toString('hex');
  const plural = `probes${suffix}`;
  const kind = `Probe${suffix}`;
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: { plural, singular: `probe${suffix}`, kind, listKind: `${kind}List` },
      scope: 'Cluster',
      versions: [{
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', 'x-kubernetes-validations': rules.map((rule) => ({ rule, message: `false: ${rule}` })) },
            },
          },
        },
      }],
    },
  };
  const crdFile = join(scratch, `${plural}.crd.yaml`);
  const objectFile = join(scratch, `${plural}.yaml`);
  writeFileSync(crdFile, stringify(crd));
  writeFileSync(objectFile, stringify({ apiVersion: `${GROUP}/v1`, kind, metadata: { name: 'probe' }, spec: {} }));
  return { crdName: crd.metadata.name, crdFile, objectFile };
}

afterAll(async () => {
  for (const name of created) await kubectl('delete', 'crd', name, '--wait=false').catch(() => undefined);
});

describe("tend validate's CEL quantity library on a real API server", () => {
  it('compiles every example and evaluates each to true', async () => {
    const { crdName, crdFile, objectFile } = probeFiles(QUANTITY_EXAMPLES);
    await kubectl('create', '-f', crdFile);
    created.push(crdName);
    await kubectl('wait', '--for=condition=Established', `crd/${crdName}`, '--timeout=30s');
    // kubectl may not see the new kind in discovery for a moment: retry only that.
    const outcome = await eventually(
      () =>
        kubectl('create', '-f', objectFile).then(
          () => 'created',
          (err: Error) => {
            if (/no matches for kind|the server could not find the requested resource/.test(err.message)) throw err;
            return `refused: ${err.message}`;
          },
        ),
      { timeoutMs: 30_000, what: 'the probe kind served' },
    );
    expect(outcome).toBe('created');
  });

  it.each(Object.values(QUANTITY_NON_EXAMPLES))('refuses %s in a CRD', async (rule) => {
    const { crdName, crdFile } = probeFiles([rule]);
    const error = await kubectl('create', '-f', crdFile).then(
      () => {
        created.push(crdName);
        return 'accepted';
      },
      (err: Error) => err.message,
    );
    expect(error).toMatch(/compilation failed|estimated rule cost exceeds budget/);
  });
});
