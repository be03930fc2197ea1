import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { findKind, KINDS } from '../../../api/kinds.js';
import { loadSchema } from '../../../api/load-schema.js';
import { freshNamespace, kubectl } from '../../env/context.js';
import { REPO_ROOT } from '../../env/environment.js';

const invalidDir = join(REPO_ROOT, 'test/fixtures/invalid');
const fixtures = readdirSync(invalidDir).filter((f) => f.endsWith('.yaml')).sort();
const scratch = mkdtempSync(join(tmpdir(), 'tend-crds-test-'));

/** Writes `docs` to a scratch file for kubectl; cluster-scoped names get `suffix` so fixtures never collide. */
function writeDocs(name: string, docs: Record<string, unknown>[], suffix: string): string {
  const file = join(scratch, name);
  const renamed = docs.map((doc) => {
    const kind = findKind(String(doc.kind));
    const metadata = doc.metadata as { name: string };
    return kind?.scope === 'Cluster' ? { ...doc, metadata: { ...metadata, name: `${metadata.name}-${suffix}` } } : doc;
  });
  writeFileSync(file, renamed.map((d) => stringify(d)).join('---\n'));
  return file;
}

describe('the CRDs on a real API server', () => {
  it('accept every example, and kubectl get tend lists all five kinds', async () => {
    const ns = await freshNamespace('examples');
    const out = await kubectl('apply', '--validate=strict', '-n', ns, '-f', join(REPO_ROOT, 'examples'));
    expect(out).not.toMatch(/error/i);
    const listed = await kubectl('get', 'tend', '-A', '-o', 'name');
    for (const { kind } of KINDS) expect(listed, kind).toContain(`${kind.toLowerCase()}.tend.dev/`);
  });

  it('teach the API through kubectl explain', async () => {
    const out = await kubectl('explain', 'apps.tend.dev.spec.resources');
    const resources = (loadSchema('app.schema.json') as { properties: { spec: { properties: { resources: { properties: Record<string, { description: string }> } } } } })
      .properties.spec.properties.resources;
    for (const [field, { description }] of Object.entries(resources.properties)) {
      expect(out).toContain(field);
      expect(out.replace(/\s+/g, ' ')).toContain(description.split(/\s+/).slice(0, 6).join(' '));
    }
  });

  it.concurrent.each(fixtures)('reject %s naming its field', async (file) => {
    const text = readFileSync(join(invalidDir, file), 'utf8');
    const field = /^# field: (\S+)$/m.exec(text)![1]!;
    const message = /^# message: (.+)$/m.exec(text)?.[1];
    const docs = parseAllDocuments(text).map((d) => d.toJSON() as Record<string, unknown>);
    const last = docs.pop()!;
    const ns = await freshNamespace('invalid');
    const suffix = file.replace(/\.yaml$/, '').slice(-20).replace(/^-+/, '');
    if (docs.length > 0) await kubectl('create', '--validate=strict', '-n', ns, '-f', writeDocs(`${file}.setup.yaml`, docs, suffix));
    const lastName = (last.metadata as { name: string }).name;
    const isUpdate = docs.some((d) => d.kind === last.kind && (d.metadata as { name: string }).name === lastName);
    const verb = isUpdate ? 'replace' : 'create';
    const error = await kubectl(verb, '--validate=strict', '-n', ns, '-f', writeDocs(`${file}.last.yaml`, [last], suffix)).then(
      (out) => `accepted: ${out}`,
      (err: Error) => err.message,
    );
    expect(error).not.toMatch(/^accepted/);
    // The server names fields as `spec.size` or, for unknown ones, `.spec.bogus`.
    const escaped = field.replace(/[.[\]]/g, (c) => `\\${c}`);
    expect(error).toMatch(new RegExp(`(^|[^\\w.])\\.?${escaped}(?!\\w)`));
    // The same words as tend validate's (test/unit/fixtures/invalid.test.ts).
    if (message) expect(error).toContain(message);
  });
});
