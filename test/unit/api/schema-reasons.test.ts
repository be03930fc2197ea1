/**
 * Every condition reason the API documents is one some test expects: `kubectl explain` may not
 * promise a reason that no code produces.
 *
 * Convention: a schema description names a reason as `reason CamelCase`, and writes a condition
 * as `Type=Status with reason CamelCase` (for example "Ready=False with reason QuotaExceeded").
 * A reason counts as expected when a test file (*.test.ts under test/) holds it as a quoted
 * string literal: 'QuotaExceeded', "QuotaExceeded" or `QuotaExceeded`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schemasDir } from '../../../api/load-schema.js';

/**
 * Reasons the schemas name whose code and test are being implemented under issue 13 §2/§3;
 * remove each when its test lands. The list may only shrink: a reason here that a test already
 * expects, or that no schema names any more, fails below.
 */
const PENDING: ReadonlySet<string> = new Set<string>([]);

const root = dirname(schemasDir());
const self = relative(root, new URL(import.meta.url).pathname);

/** Every description in a schema file, at its JSON path. */
function descriptions(node: unknown, path: string, out: [string, string][] = []): [string, string][] {
  if (Array.isArray(node)) node.forEach((item, i) => descriptions(item, `${path}[${i}]`, out));
  else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'description' && typeof value === 'string') out.push([path, value]);
      else descriptions(value, `${path}.${key}`, out);
    }
  }
  return out;
}

const schemaFiles = readdirSync(schemasDir()).filter((f) => f.endsWith('.schema.json')).sort();
const documented = schemaFiles.flatMap((file) =>
  descriptions(JSON.parse(readFileSync(join(schemasDir(), file), 'utf8')), file).map(([path, text]) => ({ path, text })),
);

/** reason → where the schemas name it. */
const reasons = new Map<string, string[]>();
for (const { path, text } of documented) {
  for (const [, reason] of text.matchAll(/\breason ([A-Z][A-Za-z0-9]*)\b/g)) reasons.set(reason!, [...(reasons.get(reason!) ?? []), path]);
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') && relative(root, path) !== self ? [path] : [];
  });
}

const tests = testFiles(join(root, 'test')).map((file) => ({ file: relative(root, file), text: readFileSync(file, 'utf8') }));

/** The test files that hold `reason` as a quoted string literal. */
function expectedBy(reason: string): string[] {
  const literal = new RegExp(`(['"\`])${reason}\\1`);
  return tests.filter((t) => literal.test(t.text)).map((t) => t.file);
}

describe('the condition reasons the schemas document', () => {
  it('are found by the convention (the schemas do name reasons)', () => {
    expect(reasons.size).toBeGreaterThanOrEqual(5);
  });

  it('are each written as "Type=Status with reason X" where a condition is named', () => {
    const loose = documented.flatMap(({ path, text }) =>
      [...text.matchAll(/\b[A-Z][A-Za-z]*=(True|False|Unknown)\b(?! with reason [A-Z])/g)].map((m) => `${path}: ${m[0]}`),
    );
    expect(loose).toEqual([]);
  });

  it.each([...reasons.keys()].filter((r) => !PENDING.has(r)).sort())('%s is expected by a test', (reason) => {
    expect(expectedBy(reason), `named at ${reasons.get(reason)!.join(', ')}; no test file quotes '${reason}'`).not.toEqual([]);
  });

  it.each([...PENDING].sort())('%s is still pending: named by a schema, expected by no test yet (else remove it from PENDING)', (reason) => {
    expect(reasons.has(reason), `${reason} is no longer named by any schema`).toBe(true);
    expect(expectedBy(reason), `${reason} is expected by a test now: remove it from PENDING`).toEqual([]);
  });
});
