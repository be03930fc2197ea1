import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schemasDir } from '../../../api/load-schema.js';

const root = dirname(schemasDir());

/** Run cli/main.ts the way `npm run tend` does (through tsx), from the repository root. */
function tend(...args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: root, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

// Each case starts tsx processes one after another: seconds each on a loaded machine.
describe('the tend command', { timeout: 120_000 }, () => {
  it('starts with a node shebang', () => {
    expect(readFileSync(join(root, 'cli/main.ts'), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('exits 0 when the manifests are valid', () => {
    const run = tend('validate', '-f', 'examples');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('ok: 7 tend.dev objects valid');
  });

  it('exits 1 with one error line per problem when they are not', () => {
    const run = tend('validate', '-f', 'test/fixtures/invalid/app-memory-missing.yaml');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('test/fixtures/invalid/app-memory-missing.yaml: App default/web: spec.resources.memory: Required value\n');
  });

  it('exits 2 with one line on a usage error or an unknown command', () => {
    const missing = tend('validate');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('tend: validate needs at least one -f FILE|DIR (see: tend help)\n');
    const unknown = tend('deploy');
    expect(unknown).toMatchObject({ code: 2, stderr: 'tend: unknown command "deploy" (see: tend help)\n' });
    // Checked before connecting: this database does not exist, and the error is still the flag.
    const badFlag = tend('run', '--database-url', 'postgres://nobody@127.0.0.1:1/none', '--concurrency', 'many');
    expect(badFlag).toMatchObject({ code: 2, stderr: 'tend: run: --concurrency must be a whole number, got "many" (see: tend help)\n' });
    const badKind = tend('get', 'pods');
    expect(badKind).toMatchObject({ code: 2, stderr: 'tend: unknown kind "pods": one of tenants, nodes, apps, routes, volumes (see: tend help)\n' });
  });

  it('refuses a --no-tenant-grace that is no duration before connecting', () => {
    const badGrace = tend('run', '--database-url', 'postgres://nobody@127.0.0.1:1/none', '--no-tenant-grace', 'soon');
    expect(badGrace).toMatchObject({ code: 2, stderr: 'tend: run: --no-tenant-grace must be a duration like 90s or 5m, got "soon" (see: tend help)\n' });
  });

  it('prints its version and its help', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(tend('version')).toMatchObject({ code: 0, stdout: `tend ${pkg.version}\n` });
    const help = tend('help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('validate -f FILE|DIR');
    expect(tend('help', 'validate').stdout).toContain('Usage: tend validate');
  });
});
