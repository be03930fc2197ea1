/**
 * tend's npm package: a name it can be published under (`tend` is taken), the `tend` bin, and a
 * tarball holding what an installed tend reads at run time — checked with npm's own file list.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tendCommand } from '../../../cli/invocation.js';
import { PACKAGE_NAME, tendVersion } from '../../../cli/version.js';
import { REPO_ROOT } from '../../env/environment.js';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string; version: string; bin: Record<string, string>; files: string[]; publishConfig?: { access?: string }; exports: Record<string, { default: string }>;
};
const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { name: string; packages: Record<string, { name?: string }> };

describe('the npm package', () => {
  it('is @tend-dev/tend, public, with the bin tend, and the lockfile agrees', () => {
    expect(pkg.name).toBe(PACKAGE_NAME);
    expect(PACKAGE_NAME).toMatch(/^@[a-z0-9-]+\/tend$/);
    expect(pkg.publishConfig?.access).toBe('public'); // a scoped package is private unless told
    expect(pkg.bin).toEqual({ tend: 'dist/cli/main.js' });
    expect([lock.name, lock.packages['']?.name]).toEqual([PACKAGE_NAME, PACKAGE_NAME]);
  });

  it('knows its own version by its name (tend version)', () => {
    expect(tendVersion()).toBe(pkg.version);
  });

  it('packs what an installed tend reads: the build, schemas, examples, CRDs and manifests; no tests', async () => {
    // --ignore-scripts: `prepare` would build; dist/ is checked by name below and by the build itself.
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, maxBuffer: 16 << 20 });
    const files = new Set((JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
    expect(pkg.files).toContain('dist');
    for (const file of ['package.json', 'README.md', 'schemas/common.schema.json', 'examples/hello-server.mjs', 'examples/hello.yaml', 'crds/Kustomization', 'crds/tend.dev_apps.yaml', 'manifests/kustomization.yaml', 'manifests/systemd/tend-agent.service']) {
      expect(files.has(file), file).toBe(true);
    }
    expect([...files].filter((f) => /^(test|bench|node_modules|\.tend|cli|framework)\//.test(f))).toEqual([]);
    // Where a build has run, the bin and the exports are in the tarball.
    if (existsSync(join(REPO_ROOT, pkg.bin.tend!))) {
      for (const path of [pkg.bin.tend!, ...Object.values(pkg.exports).map((e) => e.default.replace(/^\.\//, ''))]) expect(files.has(path), path).toBe(true);
    }
  });
});

describe('tendCommand', () => {
  it('is tend for an installed package and npx tend in a checkout', () => {
    expect(tendCommand('/usr/local/lib/node_modules/@tend-dev/tend/dist/cli/invocation.js')).toBe('tend');
    expect(tendCommand('/home/me/tend/cli/invocation.ts')).toBe('npx tend');
  });
});
