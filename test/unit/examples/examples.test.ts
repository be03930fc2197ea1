import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schemasDir } from '../../../api/load-schema.js';
import { formatIssue, validateFiles } from '../../../api/validate.js';

const examplesDir = join(dirname(schemasDir()), 'examples');
const yamlFiles = readdirSync(examplesDir).filter((f) => /\.ya?ml$/.test(f));

describe('the examples', () => {
  it('include the tenant, node, hello and volume scenarios', () => {
    expect(yamlFiles).toEqual(expect.arrayContaining(['tenant.yaml', 'node.yaml', 'hello.yaml', 'volume.yaml']));
  });

  it.each(yamlFiles)('%s is valid', (file) => {
    const report = validateFiles([join(examplesDir, file)]);
    expect(report.issues.map(formatIssue)).toEqual([]);
    expect(report.skipped).toEqual([]);
    expect(report.checked).toBeGreaterThan(0);
  });

  it.each(yamlFiles)('%s begins with a comment saying what it shows and leaves the namespace to kubectl', (file) => {
    const text = readFileSync(join(examplesDir, file), 'utf8');
    expect(text.startsWith('# ')).toBe(true);
    expect(text).not.toMatch(/^\s+namespace:/m);
  });

  it('are valid together, applied in one go', () => {
    expect(validateFiles([examplesDir]).issues.map(formatIssue)).toEqual([]);
  });
});
