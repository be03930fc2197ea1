/**
 * Every client verb of the tend command against both backends: resources on the Kubernetes API
 * server (--kubeconfig) and resources in PostgreSQL (standalone), with the controllers running.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runApply } from '../../../cli/apply.js';
import { runDelete } from '../../../cli/delete.js';
import { runDescribe } from '../../../cli/describe.js';
import { runGet } from '../../../cli/get.js';
import type { CliIo } from '../../../cli/io.js';
import { runLogs } from '../../../cli/logs.js';
import { runRollout } from '../../../cli/rollout.js';
import { runWhy } from '../../../cli/why.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { createLogger } from '../../../framework/log/logger.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { freshNamespace, kubeConfig, testEnv } from '../../env/context.js';
import { eventually } from '../../env/eventually.js';
import { FreshDatabases } from '../../env/fresh-database.js';
import { testShard } from '../../env/shard.js';

const logger = createLogger({ level: 'warn' });
const databases = new FreshDatabases('cli');
const dir = mkdtempSync(join(tmpdir(), 'tend-cli-'));

interface Captured {
  code: number;
  out: string;
  err: string;
}

type Verb = (args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv) => Promise<number>;

/** Runs a verb in-process with captured output; a thrown error becomes `err` with code -1. */
async function run(verb: Verb, args: readonly string[], terminal?: string[]): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: () => '', ...(terminal ? { terminal: { write: (t: string) => terminal.push(t) } } : {}) };
  try {
    const code = await verb(args, io, {});
    return { code, out: out.join('\n'), err: err.join('\n') };
  } catch (e) {
    return { code: -1, out: out.join('\n'), err: `${err.join('\n')}${(e as Error).message}` };
  }
}

function file(name: string, text: string): string {
  const path = join(dir, `${randomBytes(3).toString('hex')}-${name}`);
  writeFileSync(path, text);
  return path;
}

const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

interface Backend {
  readonly name: string;
  /** Flags that point the CLI at this backend. */
  flags: string[];
  labels: Record<string, string>;
  namespace(): Promise<string>;
  stop(): Promise<void>;
}

async function postgresBackend(): Promise<Backend> {
  const url = await databases.create();
  const store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  const stop = new AbortController();
  const running = buildPlatform({ store, logger, replica: 'cli-pg', membership: false }).start(stop.signal);
  let n = 0;
  return {
    name: 'postgres',
    flags: ['--database-url', url],
    labels: {},
    namespace: async () => `ns${++n}-${randomBytes(2).toString('hex')}`,
    stop: async () => {
      stop.abort();
      await running;
    },
  };
}

async function kubernetesBackend(): Promise<Backend> {
  const url = await databases.create();
  const store = new Store({ connectionString: url, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  const shard = testShard('cli');
  const stop = new AbortController();
  const running = buildPlatform({ kubeConfig: kubeConfig(), store, logger, replica: 'cli-kube', membership: false, selector: shard.selector }).start(stop.signal);
  return {
    name: 'kubernetes',
    flags: ['--kubeconfig', testEnv().kubeconfigPath, '--database-url', url],
    labels: shard.labels,
    namespace: () => freshNamespace('cli'),
    stop: async () => {
      stop.abort();
      await running;
    },
  };
}

function labelsYaml(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  return entries.length ? `\n  labels:\n${entries.map(([k, v]) => `    ${k}: ${v}`).join('\n')}` : '';
}

function tenantYaml(b: Backend, name: string, namespaces: string[], extra = ''): string {
  return `apiVersion: tend.dev/v1alpha1
kind: Tenant
metadata:
  name: ${name}${labelsYaml(b.labels)}
spec:
  namespaces: [${namespaces.join(', ')}]
  allowedHostnames: ["*.cli.test"]${extra}
`;
}

function appYaml(b: Backend, name: string, namespace: string, replicas = 1): string {
  return `apiVersion: tend.dev/v1alpha1
kind: App
metadata:
  name: ${name}
  namespace: ${namespace}${labelsYaml(b.labels)}
spec:
  replicas: ${replicas}
  command: [node, -e, "setInterval(() => {}, 1000)"]
  resources:
    memory: 64Mi
`;
}

function routeYaml(b: Backend, name: string, namespace: string, host: string, app: string): string {
  return `apiVersion: tend.dev/v1alpha1
kind: Route
metadata:
  name: ${name}
  namespace: ${namespace}${labelsYaml(b.labels)}
spec:
  host: ${host}
  app: ${app}
`;
}

describe.each([
  ['postgres', postgresBackend],
  ['kubernetes', kubernetesBackend],
] as const)('the tend command on the %s backend', (_name, start) => {
  let b: Backend;
  beforeAll(async () => {
    b = await start();
  });
  afterAll(async () => {
    await b.stop();
  });

  it('applies (created, then unchanged, then configured), gets as a table, as YAML and as JSON', async () => {
    const ns = await b.namespace();
    const tenant = unique('acme');
    const path = file('app.yaml', `${tenantYaml(b, tenant, [ns])}---\n${appYaml(b, 'web', ns)}`);
    const first = await run(runApply, ['-f', path, ...b.flags]);
    expect(first).toMatchObject({ code: 0, err: '' });
    expect(first.out.split('\n')).toEqual([`tenant.tend.dev/${tenant} created`, 'app.tend.dev/web created']);
    expect((await run(runApply, ['-f', path, ...b.flags])).out.split('\n')).toEqual([`tenant.tend.dev/${tenant} unchanged`, 'app.tend.dev/web unchanged']);
    const scaled = file('app.yaml', appYaml(b, 'web', ns, 2));
    expect((await run(runApply, ['-f', scaled, ...b.flags])).out).toBe('app.tend.dev/web configured');
    const annotated = file('app.yaml', appYaml(b, 'web', ns, 2).replace(`namespace: ${ns}`, `namespace: ${ns}\n  annotations:\n    team: blue`));
    expect((await run(runApply, ['-f', annotated, ...b.flags])).out).toBe('app.tend.dev/web configured');
    expect((await run(runApply, ['-f', annotated, ...b.flags])).out).toBe('app.tend.dev/web unchanged');

    const table = await run(runGet, ['apps', '-n', ns, ...b.flags]);
    expect(table.code).toBe(0);
    const [header, row] = table.out.split('\n');
    expect(header).toMatch(/^NAME\s+READY\s+DESIRED\s+HEALTHY\s+REVISION\s+REASON\s+AGE$/);
    expect(row).toMatch(/^web\s+\S*\s*2\s/);
    const json = JSON.parse((await run(runGet, ['tapp', 'web', '-n', ns, '-o', 'json', ...b.flags])).out);
    expect(json).toMatchObject({ kind: 'App', metadata: { name: 'web', namespace: ns }, spec: { replicas: 2 } });
    expect((await run(runGet, ['app', 'web', '-n', ns, '-o', 'yaml', ...b.flags])).out).toMatch(/^apiVersion: tend.dev\/v1alpha1\nkind: App\n/);
    const missing = await run(runGet, ['app', 'nope', '-n', ns, ...b.flags]);
    expect(missing).toMatchObject({ code: 1, err: `tend: apps.tend.dev "nope" not found in namespace ${ns}` });
  });

  it('rejects an invalid object with file, object and field, applies the rest, and skips a broken YAML document', async () => {
    const ns = await b.namespace();
    const tenant = unique('bad');
    const path = file(
      'mixed.yaml',
      `${tenantYaml(b, tenant, [ns])}---\n${appYaml(b, 'neg', ns).replace('replicas: 1', 'replicas: -1')}---\nkind: App\nmetadata: {name: broken\n`,
    );
    const result = await run(runApply, ['-f', path, ...b.flags]);
    expect(result.code).toBe(1);
    expect(result.out).toBe(`tenant.tend.dev/${tenant} created`);
    expect(result.err).toContain(`${path}: App ${ns}/neg: spec.replicas: `);
    expect(result.err).toMatch(/greater than or equal to 0/);
    expect(result.err).toMatch(new RegExp(`${path}:\\d+: YAML syntax error: .*\\(this document was not applied\\)`));
    expect((await run(runGet, ['app', 'neg', '-n', ns, ...b.flags])).code).toBe(1);
    expect((await run(runGet, ['app', 'broken', '-n', ns, ...b.flags])).code).toBe(1);
  });

  it('waits for Ready with --wait, printing each change of state', async () => {
    const tenant = unique('wait');
    const path = file('tenant.yaml', tenantYaml(b, tenant, [await b.namespace()]));
    const result = await run(runApply, ['-f', path, '--wait', '--timeout', '60s', ...b.flags]);
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out).toMatch(new RegExp(`tenant.tend.dev/${tenant}: Ready\\n.*all 1 Ready$`));
  });

  it('on a terminal, --wait redraws one live line per object in place', async () => {
    const tenant = unique('live');
    const screen: string[] = [];
    const result = await run(runApply, ['-f', file('tenant.yaml', tenantYaml(b, tenant, [await b.namespace()])), '--wait', ...b.flags], screen);
    expect(result).toMatchObject({ code: 0, out: `tenant.tend.dev/${tenant} created` });
    const last = screen.at(-1)!;
    expect(last).toContain(`\x1b[2K✓ tenant.tend.dev/${tenant}: Ready\n`);
    expect(last).toMatch(/1 of 1 Ready\n$/);
    // Every frame after the first moves the cursor back over the previous one.
    for (const frame of screen.slice(1)) expect(frame.startsWith('\x1b[2A')).toBe(true);
  });

  it('why: an App no node can run says so in one sentence, with its instances and its reconciles', async () => {
    const ns = await b.namespace();
    await run(runApply, ['-f', file('t.yaml', tenantYaml(b, unique('why'), [ns])), ...b.flags]);
    await run(runApply, ['-f', file('a.yaml', appYaml(b, 'stuck', ns)), ...b.flags]);
    const why = await eventually(async () => {
      const r = await run(runWhy, [`app/stuck`, '-n', ns, ...b.flags]);
      return r.out.includes('Scheduled=False') && r.out.includes('Last reconciles') && !r.out.includes('no replica has reconciled') ? r : undefined;
    }, { what: 'tend why app/stuck to name the scheduling problem' });
    expect(why.code).toBe(0);
    const [first] = why.out.split('\n');
    expect(first).toMatch(new RegExp(`^App ${ns}/stuck is not Ready: Scheduled=False \\w+: .*0/0 nodes can run 1 instance of 64Mi`));
    expect(why.out).toContain('Running: no instances');
    expect(why.out).toMatch(/Last reconciles \(newest first\):\n\s+AGE\s+REPLICA\s+CONTROLLER.*\n\s+\S+\s+cli-\w+\s+app\s+1\s+\w+/);

    const logs = await run(runLogs, ['--journal', 'app/stuck', '-n', ns, ...b.flags]);
    expect(logs.code).toBe(0);
    expect(logs.out).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  app ${ns}/stuck gen 1  reconciled`, 'm'));
    // Without --journal, app/NAME is what its instances print: none here, and it says so.
    const output = await run(runLogs, ['app/stuck', '-n', ns, ...b.flags]);
    expect(output).toEqual({ code: 0, out: '', err: `tend: App ${ns}/stuck has no instances` });
    expect((await run(runLogs, ['app/absent', '-n', ns, ...b.flags])).err).toBe(`tend: apps.tend.dev "absent" not found in namespace ${ns}`);
  });

  it('why: a Route that lost its host to another tenant says so without naming the owner', async () => {
    const [ns1, ns2] = [await b.namespace(), await b.namespace()];
    await run(runApply, ['-f', file('t.yaml', `${tenantYaml(b, unique('one'), [ns1])}---\n${tenantYaml(b, unique('two'), [ns2])}`), ...b.flags]);
    const host = `${randomBytes(3).toString('hex')}.cli.test`;
    await run(runApply, ['-f', file('r1.yaml', routeYaml(b, 'first', ns1, host, 'web')), ...b.flags]);
    // Ownership goes to the older route; creation times have one-second resolution.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await run(runApply, ['-f', file('r2.yaml', routeYaml(b, 'second', ns2, host, 'web')), ...b.flags]);
    const why = await eventually(async () => {
      const r = await run(runWhy, ['troute/second', '-n', ns2, ...b.flags]);
      return r.out.includes('HostConflict') ? r : undefined;
    }, { what: 'tend why route/second to report the conflict' });
    expect(why.out.split('\n')[0]).toMatch(new RegExp(`^Route ${ns2}/second is not Ready: .*HostConflict: host ${host.replaceAll('.', '\\.')} belongs to another tenant`));
    expect(why.out).not.toContain(`${ns1}/first`);

    const described = await run(runDescribe, ['route', 'second', '-n', ns2, ...b.flags]);
    expect(described.code).toBe(0);
    expect(described.out).toMatch(/^Name:\s+second$/m);
    expect(described.out).toMatch(/Conditions:\n\s+TYPE\s+STATUS\s+REASON\s+SINCE\s+MESSAGE\n(.*\n)*\s+\w+\s+False\s+HostConflict/);
    expect(described.out).toMatch(/Events:\n/);
  });

  it('rollout history lists the revisions the controller recorded; rollout undo writes the previous one back to the spec', async () => {
    const ns = await b.namespace();
    await run(runApply, ['-f', file('t.yaml', tenantYaml(b, unique('roll'), [ns])), ...b.flags]);
    const v1 = appYaml(b, 'rolled', ns);
    const v2 = v1.replace('setInterval(() => {}, 1000)', 'setInterval(() => {}, 2000)');
    await run(runApply, ['-f', file('v1.yaml', v1), ...b.flags]);
    const first = await eventually(async () => (await run(runGet, ['app', 'rolled', '-n', ns, '-o', 'json', ...b.flags])).out.match(/"revision": "(\w+)"/)?.[1], { what: 'revision 1 reported' });
    await run(runApply, ['-f', file('v2.yaml', v2), ...b.flags]);
    const history = await eventually(async () => {
      const r = await run(runRollout, ['history', 'app/rolled', '-n', ns, ...b.flags]);
      return /^\s+2\s/m.test(r.out) ? r : undefined;
    }, { what: 'two revisions recorded' });
    expect(history.code).toBe(0);
    const lines = history.out.split('\n');
    expect(lines[0]).toBe('app.tend.dev/rolled');
    expect(lines[1]).toMatch(/^\s+REVISION\s+ID\s+STARTED\s+AVAILABLE\s+STATE$/);
    // Until the controller has written status.revision of revision 2, revision 1 is current and 2 the spec's.
    expect(lines[2], history.out).toMatch(new RegExp(`^\\s+1\\s+${first}\\s+\\S+Z\\s+-(\\s+current)?$`));
    expect(lines[3], history.out).toMatch(/^\s+2\s+\w+\s+\S+Z\s+-\s+(current|spec)$/);
    expect((await run(runRollout, ['history', 'app/rolled', '--revision', '1', '-n', ns, ...b.flags])).out).toMatch(/^app\.tend\.dev\/rolled with revision #1 \(\w+\)\n\s+command:\n\s+- node\n\s+- -e\n\s+- setInterval\(\(\) => \{\}, 1000\)/);

    const undone = await run(runRollout, ['undo', 'app/rolled', '-n', ns, ...b.flags]);
    expect(undone).toMatchObject({ code: 0, out: `app.tend.dev/rolled rolled back to revision 1 (${first})` });
    const app = JSON.parse((await run(runGet, ['app', 'rolled', '-n', ns, '-o', 'json', ...b.flags])).out);
    expect(app.spec.command).toEqual(['node', '-e', 'setInterval(() => {}, 1000)']);
    expect(app.spec.replicas).toBe(1);
    // Back on the spec, revision 1 becomes the newest: number 3, as a Deployment's ReplicaSet does.
    const renumbered = await eventually(async () => {
      const r = await run(runRollout, ['history', 'app/rolled', '-n', ns, ...b.flags]);
      return new RegExp(`^\\s+3\\s+${first}\\s`, 'm').test(r.out) ? r : undefined;
    }, { what: 'revision 1 renumbered 3' });
    expect(renumbered.out).not.toMatch(/^\s+1\s/m);
    expect((await run(runRollout, ['undo', 'app/rolled', '--to-revision', '3', '-n', ns, ...b.flags])).out).toBe('app.tend.dev/rolled skipped rollback (current template already matches revision 3)');
    expect(await run(runRollout, ['undo', 'app/rolled', '--to-revision', '9', '-n', ns, ...b.flags])).toMatchObject({ code: 1, err: 'tend: app.tend.dev/rolled has no revision 9 (tend rollout history app/rolled lists them)' });
  });

  it('deletes, and the object is gone once its controller has cleaned up', async () => {
    const ns = await b.namespace();
    const tenant = unique('del');
    await run(runApply, ['-f', file('t.yaml', tenantYaml(b, tenant, [ns])), '--wait', ...b.flags]);
    const deleted = await run(runDelete, ['tenant', tenant, ...b.flags]);
    expect(deleted).toMatchObject({ code: 0, out: `tenant.tend.dev "${tenant}" deleted` });
    await eventually(async () => ((await run(runGet, ['tenant', tenant, ...b.flags])).code === 1 ? true : undefined), { what: `tenant ${tenant} gone` });
    expect((await run(runDelete, ['tenant', tenant, ...b.flags])).code).toBe(1);
    expect((await run(runDelete, ['tenant', tenant, '--ignore-not-found', ...b.flags])).code).toBe(0);
  });
});
