import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schemasDir } from '../../../api/load-schema.js';
import type { CliIo } from '../../../cli/io.js';
import { UsageError } from '../../../cli/usage-error.js';
import { runValidate } from '../../../cli/validate.js';

const root = dirname(schemasDir());

function capture(stdin = ''): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), readStdin: () => stdin };
}

describe('tend validate', { timeout: 30_000 }, () => {
  it('exits 0 and says how many objects were valid', () => {
    const io = capture();
    expect(runValidate(['-f', join(root, 'examples')], io)).toBe(0);
    expect(io.stdout.at(-1)).toBe('ok: 7 tend.dev objects valid');
    expect(io.stderr).toEqual([]);
  });

  it('exits 1 with one line per problem on stderr', () => {
    const file = join(root, 'test/fixtures/invalid/volume-size-shrink.yaml');
    const io = capture();
    expect(runValidate(['--filename', file], io)).toBe(1);
    expect(io.stderr).toEqual([
      `${file}: Volume default/data: spec.size: Invalid value: "5Gi": may only grow: cannot shrink from 10Gi to 5Gi`,
    ]);
  });

  it('checks files given later as updates of earlier ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tend-cli-'));
    const volume = (size: string) =>
      `apiVersion: tend.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: data\nspec:\n  size: ${size}\n  node: n1\n`;
    writeFileSync(join(dir, 'old.yaml'), volume('10Gi'));
    writeFileSync(join(dir, 'new.yaml'), volume('1Gi'));
    const io = capture();
    expect(runValidate(['-f', join(dir, 'old.yaml'), '-f', join(dir, 'new.yaml')], io)).toBe(1);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toContain('new.yaml: Volume default/data: spec.size: ');
  });

  it('reads standard input for -f - and lists skipped documents', () => {
    const io = capture('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n');
    expect(runValidate(['-f', '-'], io)).toBe(0);
    expect(io.stdout).toEqual(['<stdin>:1: skipped Namespace shop: v1 is not a tend.dev API version', 'ok: 0 tend.dev objects valid']);
  });

  it('prints nothing on success with --quiet', () => {
    const io = capture();
    expect(runValidate(['-q', '-f', join(root, 'examples/node.yaml')], io)).toBe(0);
    expect(io.stdout).toEqual([]);
  });

  it('names the file and line of a YAML syntax error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tend-cli-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'apiVersion: tend.dev/v1alpha1\nkind: [App\n');
    const io = capture();
    expect(runValidate(['-f', file], io)).toBe(1);
    expect(io.stderr).toEqual([expect.stringMatching(new RegExp(`^${file}:\\d+: YAML syntax error: `))]);
  });

  it.each([
    [[], /at least one -f/],
    [['examples'], /Unexpected argument/],
    [['-f'], /argument missing/],
    [['--frob'], /Unknown option/],
    [['-f', '/no/such/path'], /\/no\/such\/path: no such file or directory/],
  ])('treats %j as a usage error', (args, message) => {
    expect(() => runValidate(args as string[], capture())).toThrow(UsageError);
    expect(() => runValidate(args as string[], capture())).toThrow(message);
  });

  it('treats a folder without YAML files as a usage error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tend-cli-'));
    expect(() => runValidate(['-f', dir], capture())).toThrow(/no \.yaml or \.yml files/);
  });
});
