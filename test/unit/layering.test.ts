/**
 * The layering rules of .dependency-cruiser.cjs (`npm run lint:deps` prints the same), in `npm test`:
 * platform code reaches the framework through its public entries only, reconcilers/ do no I/O,
 * and the top-level folders import each other in one direction.
 */
import { existsSync, mkdtempSync, readFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

/** The violations of the repository's rules in `paths` (relative to `baseDir`), as `rule: from → to`. */
async function violations(paths: readonly string[], baseDir = root): Promise<string[]> {
  const options = await extractDepcruiseOptions(join(root, '.dependency-cruiser.cjs'));
  const result = await cruise([...paths], { ...options, baseDir, validate: true }, {}, { tsConfig: extractTSConfig(join(root, 'tsconfig.json')) });
  // A package seen through the scratch tree's symlink resolves to its real path: name it as in the repository.
  return (result.output as ICruiseResult).summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to.replace(/^.*?node_modules\//, 'node_modules/')}`);
}

describe('layering (.dependency-cruiser.cjs)', () => {
  it('holds for the whole repository', { timeout: 120_000 }, async () => {
    expect(await violations(['.'])).toEqual([]);
  });

  it('package.json exports the two entries, each with its types', async () => {
    const { exports } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    expect(exports).toEqual({
      './framework': { types: './dist/framework/index.d.ts', default: './dist/framework/index.js' },
      './framework/testing': { types: './dist/framework/testing/index.d.ts', default: './dist/framework/testing/index.js' },
    });
    for (const entry of ['framework/index.ts', 'framework/testing/index.ts']) expect(existsSync(join(root, entry))).toBe(true);
  });

  describe('catches, in a scratch tree laid out as the repository', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'tend-layering-'));
    symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));
    const files = (made: Record<string, string>): string[] => {
      for (const [path, text] of Object.entries(made)) {
        mkdirSync(dirname(join(scratch, path)), { recursive: true });
        writeFileSync(join(scratch, path), text);
      }
      return Object.keys(made);
    };
    files({
      'framework/index.ts': "export { Store } from './store/index.js';\n",
      'framework/store/index.ts': 'export class Store {}\n',
      'framework/testing/index.ts': 'export class FakeClock {}\n',
      'agents/node/agent.ts': 'export const runNodeAgent = 1;\n',
      'controllers/platform.ts': 'export const buildPlatform = 1;\n',
      'cli/main.ts': 'export const main = 1;\n',
    });

    it('a platform file importing a framework deep path', { timeout: 60_000 }, async () => {
      const paths = files({ 'controllers/deep.ts': "export { Store } from '../framework/store/index.js';\n" });
      expect(await violations(paths, scratch)).toEqual(['framework-public-entry: controllers/deep.ts → framework/store/index.ts']);
    });

    it('a reconciler importing node:*, pg, the Kubernetes client or an agent', { timeout: 60_000 }, async () => {
      const paths = files({
        'reconcilers/io.ts': [
          "import { readFileSync } from 'node:fs';",
          "import pg from 'pg';",
          "import { KubeConfig } from '@kubernetes/client-node';",
          "import { runNodeAgent } from '../agents/node/agent.js';",
          'export const used = [readFileSync, pg, KubeConfig, runNodeAgent];',
          '',
        ].join('\n'),
      });
      expect((await violations(paths, scratch)).sort()).toEqual([
        'layer-reconcilers: reconcilers/io.ts → agents/node/agent.ts',
        'reconcilers-no-io-packages: reconcilers/io.ts → node_modules/@kubernetes/client-node/dist/index.js',
        'reconcilers-no-io-packages: reconcilers/io.ts → node_modules/pg/esm/index.mjs',
        'reconcilers-no-io: reconcilers/io.ts → fs',
      ]);
    });

    it('the framework importing platform code, and a folder importing one after it', { timeout: 60_000 }, async () => {
      const paths = files({
        'framework/platform.ts': "export { buildPlatform } from '../controllers/platform.js';\n",
        'api/up.ts': "export { main } from '../cli/main.js';\n",
      });
      expect((await violations(paths, scratch)).sort()).toEqual([
        'layer-api: api/up.ts → cli/main.ts',
        'layer-framework: framework/platform.ts → controllers/platform.ts',
      ]);
    });

    it('a top-level folder that has no place in the layers', { timeout: 60_000 }, async () => {
      const paths = files({ 'newthing/a.ts': "export { Store } from '../framework/index.js';\n" });
      expect(await violations(paths, scratch)).toEqual(['layer-unlisted: newthing/a.ts → framework/index.ts']);
    });

    it('but not the public entries', { timeout: 60_000 }, async () => {
      const paths = files({
        'examples/ok.ts': "export { Store } from '../framework/index.js';\nexport { FakeClock } from '../framework/testing/index.js';\n",
      });
      expect(await violations(paths, scratch)).toEqual([]);
    });
  });
});
