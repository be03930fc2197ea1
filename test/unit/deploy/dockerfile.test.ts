/**
 * The Dockerfile, checked without a Docker engine (these machines have none): what it copies from
 * the checkout exists and passes .dockerignore, the build stage has every source folder the CLI
 * imports, the entrypoint is the file `npm run build` writes for package.json's bin, and the image's
 * user and node are the ones manifests/ counts on.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../env/environment.js';

interface Instruction { readonly op: string; readonly args: string }
interface Stage { readonly from: string; readonly name?: string; readonly instructions: Instruction[] }

/** The Dockerfile's stages: instructions with continuation lines joined, comments dropped. */
function stages(text: string): Stage[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const out: Stage[] = [];
  for (const line of lines) {
    const [, op, args] = /^(\S+)\s+(.*)$/.exec(line)!;
    if (op!.toUpperCase() === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args!)!;
      out.push({ from: from!, ...(name ? { name } : {}), instructions: [] });
    } else {
      out.at(-1)!.instructions.push({ op: op!.toUpperCase(), args: args! });
    }
  }
  return out;
}

/** A COPY's sources, destination and --from stage. */
function copyOf(i: Instruction): { from?: string; sources: string[]; dest: string } {
  const words = i.args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** Every repository folder a source file reached from `entry` by relative imports lies in (first path segment). */
function importedFolders(entry: string): Set<string> {
  const seen = new Set<string>();
  const folders = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    folders.add(relative(REPO_ROOT, file).split('/')[0]!);
    if (!file.endsWith('.ts')) return;
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = resolve(dirname(file), spec!);
      visit(existsSync(target.replace(/\.js$/, '.ts')) ? target.replace(/\.js$/, '.ts') : target);
    }
  };
  visit(join(REPO_ROOT, entry));
  return folders;
}

const dockerfile = stages(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const build = dockerfile.find((s) => s.name === 'build')!;
const runtime = dockerfile.at(-1)!;
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const contextCopies = dockerfile.flatMap((s) => s.instructions.filter((i) => i.op === 'COPY').map(copyOf).filter((c) => !c.from));

/** Whether .dockerignore lets `path` into the build context (its allowlist form: `*`, then `!name` per top-level entry). */
function inContext(path: string): boolean {
  const top = path.replace(/\/$/, '').split('/')[0]!;
  let included = true;
  for (const pattern of ignore) {
    if (pattern === '*') included = false;
    else if (pattern === `!${top}`) included = true;
  }
  return included;
}

describe('the Dockerfile', () => {
  it('copies from the checkout only what exists and .dockerignore lets through', () => {
    expect(ignore.every((p) => p === '*' || /^![^*!/]+$/.test(p)), 'only `*` and `!name` lines: the check below reads nothing else').toBe(true);
    expect(contextCopies.length).toBeGreaterThan(0);
    for (const source of contextCopies.flatMap((c) => c.sources)) {
      expect(existsSync(join(REPO_ROOT, source)), `${source} exists`).toBe(true);
      expect(inContext(source), `${source} is in the build context`).toBe(true);
    }
    // And nothing from .dockerignore's allowlist is left unused (credentials or data let in by mistake).
    const copied = new Set(contextCopies.flatMap((c) => c.sources.map((s) => s.replace(/\/$/, '').split('/')[0]!)));
    expect(ignore.filter((p) => p.startsWith('!')).map((p) => p.slice(1)).filter((name) => !copied.has(name))).toEqual([]);
  });

  it('has, before npm run build, every source folder the CLI imports and every folder tsconfig.build.json includes', () => {
    const buildAt = build.instructions.findIndex((i) => i.op === 'RUN' && i.args.includes('npm run build'));
    expect(buildAt).toBeGreaterThan(0);
    const before = new Set(build.instructions.slice(0, buildAt).filter((i) => i.op === 'COPY').flatMap((i) => copyOf(i).sources.map((s) => s.replace(/\/$/, ''))));
    const needed = new Set([...importedFolders('cli/main.ts'), ...(JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include]);
    expect([...needed].filter((folder) => !before.has(folder)).sort()).toEqual([]);
    for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) expect(before.has(file), file).toBe(true);
  });

  it('runs the file npm run build writes for bin.tend, from what the build stage made', () => {
    expect(runtime.instructions.find((i) => i.op === 'WORKDIR')?.args).toBe('/app');
    const entrypoint = JSON.parse(runtime.instructions.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    expect(entrypoint[1]).toBe(`/app/${pkg.bin.tend}`);
    // dist/cli/main.js is tsc's output (outDir dist, rootDir .) of cli/main.ts, which the build includes.
    const tsconfig = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(tsconfig.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.' });
    expect(pkg.bin.tend).toBe('dist/cli/main.js');
    expect(existsSync(join(REPO_ROOT, 'cli/main.ts'))).toBe(true);
    // What the runtime stage takes from the build stage: copied there, or made by npm ci / npm run build.
    const made: Record<string, string> = { 'node_modules/': 'npm ci', 'dist/': 'npm run build' };
    const fromBuild = runtime.instructions.filter((i) => i.op === 'COPY').map(copyOf).filter((c) => c.from === 'build');
    expect(fromBuild.map((c) => c.dest).sort()).toEqual(['./', 'dist/', 'node_modules/']);
    for (const { sources } of fromBuild) {
      for (const source of sources) {
        const path = relative('/src', source) + (source.endsWith('/') ? '/' : '');
        const by = made[path];
        if (by) expect(build.instructions.some((i) => i.op === 'RUN' && i.args.includes(by)), `${path} made by ${by}`).toBe(true);
        else expect(build.instructions.some((i) => i.op === 'COPY' && copyOf(i).sources.includes(path)), `${path} copied in the build stage`).toBe(true);
      }
    }
    // The schemas load-schema.ts finds next to dist/ at run time.
    expect(runtime.instructions.some((i) => i.op === 'COPY' && copyOf(i).sources.includes('schemas/'))).toBe(true);
  });

  it('runs as the non-root uid the manifests name, with the node their init container calls', () => {
    const user = runtime.instructions.filter((i) => i.op === 'USER').at(-1)!.args;
    expect(user).toMatch(/^[1-9]\d*:\d+$/); // numeric: the kubelet checks runAsNonRoot without a passwd lookup
    const entrypoint = JSON.parse(runtime.instructions.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    for (const file of ['controller.yaml', 'edge.yaml']) {
      const deployment = parse(readFileSync(join(REPO_ROOT, 'manifests/base', file), 'utf8').split('\n---\n')[0]!) as { spec: { template: { spec: { securityContext: { runAsUser: number }; initContainers?: { command: string[] }[] } } } };
      expect(deployment.spec.template.spec.securityContext.runAsUser, file).toBe(Number(user.split(':')[0]));
      for (const init of deployment.spec.template.spec.initContainers ?? []) expect(init.command[0], file).toBe(entrypoint[0]);
    }
  });
});
