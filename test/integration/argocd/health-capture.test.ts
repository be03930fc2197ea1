/**
 * The status objects Argo CD's health checks are tested on (resource_customizations/tend.dev/
 * <Kind>/testdata/), captured from real runs: the controllers in this process, two `tend agent`
 * processes as nodes, real instances. Each case drives objects until one condition has the reason
 * it is about, and then:
 *   - with TEND_CAPTURE_HEALTH=1, writes the object (managedFields left out) to testdata/ and the
 *     case, with the health Argo CD should show, to health_test.yaml;
 *   - otherwise checks that the file on disk was captured in the same state (kind, condition,
 *     reason), so the testdata stays what tend really writes.
 * test/integration/argocd/health-checks.test.ts runs the scripts on them in gopher-lua, and
 * test/unit/argocd/health-coverage.test.ts checks every reason tend produces has a case.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthCheckDir } from '../../../api/argocd-cm.js';
import { resourceType } from '../../../api/resource-types.js';
import type { App } from '../../../api/types/app.js';
import type { Route } from '../../../api/types/route.js';
import type { Volume } from '../../../api/types/volume.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { KubeClient, type Resource } from '../../../framework/client/index.js';
import { findCondition, type Condition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { publishCertificatesPublicKey } from '../../../certificates/certificates-key.js';
import { LocalCa } from '../../../certificates/local-ca.js';
import { generateSealingKey } from '../../../secrets/seal.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { REPO_ROOT, startTestEnvironment, type TestEnvironment } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import { platformClients } from '../../env/platform-clients.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';
import { updateSpec } from '../../env/update-spec.js';
import { killRecordedInstances } from '../../env/instance-records.js';

type Kind = 'Tenant' | 'Node' | 'App' | 'Route' | 'Volume';
type Health = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended';

/** One captured state: the object, the condition reason it shows, the health Argo CD should say. */
interface Case {
  readonly file: string;
  readonly kind: Kind;
  readonly key: string;
  /** The condition the case is about (absent: the object as created, before any status). */
  readonly condition?: { readonly type: string; readonly status: string; readonly reason: string };
  readonly health: Health;
  /** Which condition's message Argo CD should show (absent: `message`). */
  readonly messageFrom?: string;
  readonly message?: string;
  /** What else must hold before the capture. */
  readonly also?: (obj: Resource & { status?: { conditions?: Condition[] } }) => boolean;
}

const CAPTURE = process.env.TEND_CAPTURE_HEALTH === '1';
const HEARTBEAT_MS = 1_000;
const logger = createLogger({ level: 'warn' });
let env: TestEnvironment;
let store: Store;
const agentStateDirs: string[] = [];
let clients: ReturnType<typeof platformClients> & { route: KubeClient<Route>; volume: KubeClient<Volume> };
/** Signs the Secrets' certificates (a user's own CA), and is the control plane's `issuer: local`. */
let userCa: LocalCa;
let localCa: LocalCa;
let core: CoreV1Api;
const agents = new Map<string, ServerProcess>();
const stop = new AbortController();
let running: Promise<void> | undefined;
const captured: { readonly c: Case; readonly obj: Resource }[] = [];

const clientOf = (kind: Kind) => ({ Tenant: clients.tenant, Node: clients.node, App: clients.app, Route: clients.route, Volume: clients.volume })[kind] as unknown as KubeClient<Resource & { status?: { conditions?: Condition[] } }>;

beforeAll(async () => {
  env = await startTestEnvironment();
  const base = platformClients(env.apiserver.kubeconfigPath);
  clients = { ...base, route: new KubeClient<Route>(resourceType('Route'), base.kubeConfig), volume: new KubeClient<Volume>(resourceType('Volume'), base.kubeConfig) };
  core = base.kubeConfig.makeApiClient(CoreV1Api);
  for (const ns of ['acme', 'paused', 'tight', 'cpu', 'rival', 'leaving', 'orphan', 'early']) await core.createNamespace({ body: { metadata: { name: ns } } });
  store = new Store({ connectionString: env.postgres.databaseUrl, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  await publishCertificatesPublicKey(store, generateSealingKey());
  userCa = (await LocalCa.loadOrCreate(join(env.dir, 'user-ca'), { permitted: ['acme.test'] })).ca;
  localCa = (await LocalCa.loadOrCreate(join(env.dir, 'local-ca'), { permitted: ['issued.acme.test'] })).ca;
}, 120_000);

afterAll(async () => {
  await Promise.all([...agents.values()].map((a) => a.stop()));
  for (const dir of agentStateDirs) killRecordedInstances(dir);
  stop.abort();
  await running;
  await store?.close();
  await env?.stop();
  if (CAPTURE) writeHealthTests();
});

/** Waits for the case's state, then writes or checks its testdata file. */
async function capture(c: Case): Promise<void> {
  const obj = await eventually(async () => {
    const o = await clientOf(c.kind).get(c.key as Key);
    if (!o) return undefined;
    if (c.condition) {
      const found = findCondition(o.status?.conditions, c.condition.type);
      if (found?.status !== c.condition.status || found.reason !== c.condition.reason) throw new Error(`now ${JSON.stringify(o.status?.conditions?.map((x) => `${x.type}=${x.status} ${x.reason}: ${x.message}`))}`);
      // The status must be of the object's current generation, as Argo CD would judge it.
      if ((o.status as { observedGeneration?: number } | undefined)?.observedGeneration !== o.metadata.generation) return undefined;
    }
    if (!c.also || c.also(o)) return o;
    throw new Error(`now ${JSON.stringify(o.status?.conditions?.map((x) => `${x.type}=${x.status} ${x.reason}: ${x.message}`))}`);
  }, { what: `${c.kind} ${c.key}: ${c.condition ? `${c.condition.type}=${c.condition.status} ${c.condition.reason}` : 'as created'}`, timeoutMs: 60_000 });
  const path = join(REPO_ROOT, healthCheckDir(c.kind), 'testdata', `${c.file}.yaml`);
  if (CAPTURE) {
    const { managedFields: _, ...metadata } = obj.metadata as Resource['metadata'] & { managedFields?: unknown };
    mkdirSync(join(path, '..'), { recursive: true });
    const what = c.condition ? `${c.condition.type}=${c.condition.status} ${c.condition.reason}` : 'as created, before its controller ran';
    writeFileSync(path, `# captured from a real run by test/integration/argocd/health-capture.test.ts: ${c.kind} ${what}\n${stringify({ ...obj, metadata }, { lineWidth: 0 })}`);
  } else {
    expect(existsSync(path), `${path} is missing: run TEND_CAPTURE_HEALTH=1 npx vitest run test/integration/argocd/health-capture.test.ts`).toBe(true);
    const onDisk = parse(readFileSync(path, 'utf8')) as Resource & { status?: { conditions?: Condition[] } };
    expect(onDisk.kind).toBe(c.kind);
    if (c.condition) expect(findCondition(onDisk.status?.conditions, c.condition.type)).toMatchObject(c.condition);
  }
  captured.push({ c, obj });
}

/** health_test.yaml per kind, as Argo CD's upstream tests read it, in the order of the cases. */
function writeHealthTests(): void {
  for (const kind of ['Tenant', 'Node', 'App', 'Route', 'Volume'] as const) {
    const tests = captured
      .filter(({ c }) => c.kind === kind)
      .sort((a, b) => (a.c.file < b.c.file ? -1 : 1))
      .map(({ c, obj }) => {
        const from = c.messageFrom ? findCondition((obj as { status?: { conditions?: Condition[] } }).status?.conditions, c.messageFrom) : undefined;
        return { healthStatus: { status: c.health, message: from ? from.message : (c.message ?? '') }, inputPath: `testdata/${c.file}.yaml` };
      });
    const header = '# written by test/integration/argocd/health-capture.test.ts (TEND_CAPTURE_HEALTH=1) with the objects in testdata/\n';
    writeFileSync(join(REPO_ROOT, healthCheckDir(kind), 'health_test.yaml'), header + stringify({ tests }, { lineWidth: 0 }));
  }
}

function startAgent(node: string, stateDir: string, credentials: string): void {
  agentStateDirs.push(stateDir);
  agents.set(node, startTend(`agent-${node}`, ['agent', '--node', node, '--credentials-file', credentials, '--state-dir', stateDir, '--heartbeat-ms', String(HEARTBEAT_MS), '--poll-ms', '1000', '--crash-backoff-ms', '200'], join(env.dir, `agent-${node}.log`)));
}

const meta = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}) });
const tenant = (name: string, spec: Record<string, unknown>) => clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: meta(name), spec } as never);
const node = (name: string, spec: Record<string, unknown> = {}) => clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: meta(name), spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' }, ...spec } } as never);
const volume = (name: string, ns: string, spec: Record<string, unknown> = {}) => clients.volume.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Volume', metadata: meta(name, ns), spec: { size: '64Mi', ...spec } } as never);
const route = (name: string, ns: string, host: string, app: string, extra: Record<string, unknown> = {}) => clients.route.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: meta(name, ns), spec: { host, app, ...extra } } as never);
/** A kubernetes.io/tls Secret in acme holding `crt` and `key`. */
const tlsSecret = (name: string, crt: string, key: string) =>
  core.createNamespacedSecret({ namespace: 'acme', body: { metadata: { name }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(crt).toString('base64'), 'tls.key': Buffer.from(key).toString('base64') } } });
/** A server that listens (and so passes its health check) `delayMs` after it starts. */
const server = (delayMs = 0) => ['node', '-e', `setTimeout(() => require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT), ${delayMs})`];
function app(name: string, ns: string, spec: Partial<NonNullable<App['spec']>> = {}): Promise<App> {
  return clients.app.create({
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'App',
    metadata: meta(name, ns),
    spec: { replicas: 1, command: server(), resources: { memory: '64Mi', cpu: '50m' }, healthCheck: { httpGet: { path: '/' }, periodSeconds: 1 }, ...spec },
  });
}
const c = (type: string, status: string, reason: string) => ({ type, status, reason });

describe('health testdata captured from real runs', () => {
  it('captures objects as created, before their controllers ran', async () => {
    await tenant('early', { namespaces: ['early'] });
    await node('early');
    await app('early', 'early');
    await route('early', 'early', 'early.early.test', 'early');
    await volume('early', 'early');
    for (const kind of ['Tenant', 'Node', 'App', 'Route', 'Volume'] as const) {
      await capture({ file: 'no-status', kind, key: kind === 'Tenant' || kind === 'Node' ? 'early' : 'early/early', health: 'Progressing', message: `Waiting for the ${kind} controller to observe generation 1` });
    }
  });

  it('captures what the controllers and agents report for each reason', async () => {
    running = buildPlatform({ kubeConfig: clients.kubeConfig, store, logger, replica: 'test', membership: false, cluster: { heartbeatMs: HEARTBEAT_MS, lostGraceMs: 2_000 }, issuers: [localCa] }).start(stop.signal);
    for (const name of ['n1', 'n2']) {
      await node(name);
      startAgent(name, mkdtempSync(join(tmpdir(), `tend-agent-${name}-`)), await enrolledCredentials(env.postgres.databaseUrl, 'node', name, env.dir));
    }
    await node('idle');
    await node('vault');
    await node('retired', { decommission: true });
    await tenant('acme', { namespaces: ['acme'], allowedHostnames: ['*.acme.test'] });
    await tenant('paused', { namespaces: ['paused'], allowedHostnames: ['*.paused.test'], suspended: true });
    await tenant('tight', { namespaces: ['tight'], allowedHostnames: ['*.tight.test'], quota: { apps: 1, routes: 1, volumes: 1 } });
    await tenant('cpu', { namespaces: ['cpu'], quota: { cpu: '10m' } });
    await tenant('rival', { namespaces: ['rival'], allowedHostnames: ['*.acme.test'] });
    await tenant('late', { namespaces: ['acme'] });
    for (const name of ['n1', 'n2']) {
      await eventually(async () => (findCondition((await clients.node.get(name as Key))?.status?.conditions, 'Ready')?.status === 'True' ? true : undefined), { what: `node ${name} Ready`, timeoutMs: 30_000 });
    }

    await app('hello', 'acme', { replicas: 2, placement: { strategy: 'spread' } });
    await route('hello', 'acme', 'hello.acme.test', 'hello');
    await route('second', 'acme', 'hello.acme.test', 'hello'); // same host and path, created later
    await route('ghost', 'acme', 'ghost.acme.test', 'ghost');
    await route('elsewhere', 'acme', 'www.other.test', 'hello');
    await route('taken', 'rival', 'hello.acme.test', 'hello');
    await app('sick', 'acme', { command: ['node', '-e', 'setInterval(() => {}, 1000)'] });
    await route('sick', 'acme', 'sick.acme.test', 'sick');
    await app('starting', 'acme', { command: server(600_000) });
    await app('crashing', 'acme', { command: ['node', '-e', 'process.exit(1)'] });
    await app('stuck', 'acme', { command: ['node', '-e', 'setInterval(() => {}, 1000)'], rollout: { progressDeadlineSeconds: 2 } });
    await app('huge', 'acme', { resources: { memory: '64Gi' } });
    await app('tiny', 'acme', { resources: { memory: '9Pi' } }); // more than the scheduler's exact sums allow
    await app('imaged', 'acme', { command: undefined, image: 'ghcr.io/acme/web:1', port: 8080 } as never);
    await app('secretive', 'acme', { env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'missing', key: 'token' } } }] } as never);
    await app('unmounted', 'acme', { volumes: [{ volume: 'nowhere', mountPath: '/data' }] });
    await volume('data', 'acme', { backup: { schedule: '0 3 * * *', retain: 7 } });
    await app('counter', 'acme', { volumes: [{ volume: 'data', mountPath: '/data' }], rollout: { maxSurge: 0, maxUnavailable: 1 } });
    await volume('shared', 'acme');
    await app('crowded', 'acme', { replicas: 2, volumes: [{ volume: 'shared', mountPath: '/data' }], rollout: { maxSurge: 0, maxUnavailable: 1 } });
    await volume('left', 'acme', { node: 'n1' });
    await volume('right', 'acme', { node: 'n2' });
    await app('split', 'acme', { volumes: [{ volume: 'left', mountPath: '/left' }, { volume: 'right', mountPath: '/right' }], rollout: { maxSurge: 0, maxUnavailable: 1 } });
    await volume('east', 'acme', { node: 'n2' });
    await app('easterly', 'acme', { volumes: [{ volume: 'east', mountPath: '/data' }], rollout: { maxSurge: 0, maxUnavailable: 1 } });
    await volume('spare', 'acme');
    await volume('vaulted', 'acme', { node: 'vault' }); // its node has no agent to create it
    await volume('misplaced', 'acme', { node: 'nowhere' });
    await app('paused', 'paused');
    await route('paused', 'paused', 'www.paused.test', 'paused');
    await app('first', 'tight');
    await app('second', 'tight');
    await route('first', 'tight', 'a.tight.test', 'first');
    await route('second', 'tight', 'b.tight.test', 'first');
    await volume('first', 'tight', { node: 'n1' });
    // Volumes bind first come, first served (a bound volume never moves): the second only once the first holds the quota.
    await eventually(async () => (findCondition((await clients.volume.get('tight/first' as Key))?.status?.conditions, 'Bound')?.status === 'True' ? true : undefined), { what: 'tight/first bound', timeoutMs: 30_000 });
    await volume('second', 'tight', { node: 'n1' });
    await app('busy', 'cpu', { resources: { memory: '64Mi', cpu: '100m' } });
    // spec.tls: a Secret's certificate in each state (secure gives its host's certificate: the
    // tls-… Routes on the host sort after it when created in the same second) the controller can find it in, and an issuer's.
    const secure = await userCa.issue('secure.acme.test', new Date());
    const other = await userCa.issue('other.acme.test', new Date());
    const soon = await userCa.issue('soon.acme.test', new Date(Date.now() - 85 * 86_400_000));
    const over = await userCa.issue('over.acme.test', new Date(Date.now() - 91 * 86_400_000));
    await tlsSecret('secure-tls', secure.certificatePem, secure.privateKeyPem);
    await tlsSecret('other-tls', other.certificatePem, other.privateKeyPem);
    await tlsSecret('mismatched-tls', secure.certificatePem, other.privateKeyPem);
    await tlsSecret('garbled-tls', 'not a certificate', secure.privateKeyPem);
    await tlsSecret('soon-tls', soon.certificatePem, soon.privateKeyPem);
    await tlsSecret('over-tls', over.certificatePem, over.privateKeyPem);
    await route('secure', 'acme', 'secure.acme.test', 'hello', { tls: { secretName: 'secure-tls', redirect: true } });
    await route('tls-shared', 'acme', 'secure.acme.test', 'hello', { pathPrefix: '/api', tls: { secretName: 'secure-tls' } });
    await route('tls-conflict', 'acme', 'secure.acme.test', 'hello', { pathPrefix: '/blog', tls: { secretName: 'other-tls' } });
    await route('unsigned', 'acme', 'unsigned.acme.test', 'hello', { tls: { secretName: 'missing-tls' } });
    await route('wrong-host', 'acme', 'wrong.acme.test', 'hello', { tls: { secretName: 'other-tls' } });
    await route('mismatched', 'acme', 'mismatched.acme.test', 'hello', { tls: { secretName: 'mismatched-tls' } });
    await route('garbled', 'acme', 'garbled.acme.test', 'hello', { tls: { secretName: 'garbled-tls' } });
    await route('soon', 'acme', 'soon.acme.test', 'hello', { tls: { secretName: 'soon-tls' } });
    await route('over', 'acme', 'over.acme.test', 'hello', { tls: { secretName: 'over-tls' } });
    await route('issued', 'acme', 'issued.acme.test', 'hello', { tls: { issuer: 'local' } });
    await route('no-issuer', 'acme', 'acmeissuer.acme.test', 'hello', { tls: { issuer: 'acme' } });
    await route('refused', 'acme', 'refused.acme.test', 'hello', { tls: { issuer: 'local' } });
    await app('stray', 'orphan');
    await route('stray', 'orphan', 'stray.acme.test', 'stray');
    await volume('stray', 'orphan');

    await Promise.all([
      capture({ file: 'healthy', kind: 'Tenant', key: 'acme', condition: c('Ready', 'True', 'AsExpected'), health: 'Healthy', messageFrom: 'NamespacesClaimed' }),
      capture({ file: 'suspended', kind: 'Tenant', key: 'paused', condition: c('Active', 'False', 'Suspended'), health: 'Suspended', messageFrom: 'Ready' }),
      capture({ file: 'namespace-conflict', kind: 'Tenant', key: 'late', condition: c('NamespacesClaimed', 'False', 'NamespaceConflict'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'quota-exceeded', kind: 'Tenant', key: 'tight', condition: c('WithinQuota', 'False', 'QuotaExceeded'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'cpu-quota-exceeded', kind: 'Tenant', key: 'cpu', condition: c('WithinQuota', 'False', 'CPUQuotaExceeded'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'hostnames-overlap', kind: 'Tenant', key: 'rival', condition: c('HostnamesExclusive', 'False', 'HostnamesOverlap'), health: 'Healthy', messageFrom: 'NamespacesClaimed' }),

      capture({ file: 'healthy', kind: 'Node', key: 'n1', condition: c('Ready', 'True', 'AsExpected'), health: 'Healthy', messageFrom: 'Ready', also: (o) => findCondition(o.status?.conditions, 'Isolated')?.status === 'True' }),
      capture({ file: 'agent-not-reporting', kind: 'Node', key: 'idle', condition: c('Alive', 'Unknown', 'AgentNotReporting'), health: 'Progressing', messageFrom: 'Ready' }),
      capture({ file: 'decommissioned', kind: 'Node', key: 'retired', condition: c('Ready', 'False', 'Decommissioned'), health: 'Suspended', messageFrom: 'Ready' }),

      capture({ file: 'stateful', kind: 'App', key: 'acme/easterly', condition: c('Progressing', 'True', 'RolloutComplete'), health: 'Healthy', messageFrom: 'Available', also: (o) => findCondition(o.status?.conditions, 'Ready')?.status === 'True' }),
      capture({ file: 'healthy', kind: 'App', key: 'acme/hello', condition: c('Progressing', 'True', 'RolloutComplete'), health: 'Healthy', messageFrom: 'Available', also: (o) => findCondition(o.status?.conditions, 'Ready')?.status === 'True' }),
      capture({ file: 'not-enough-ready', kind: 'App', key: 'acme/starting', condition: c('Available', 'False', 'NotEnoughReady'), health: 'Progressing', messageFrom: 'Ready', also: (o) => findCondition(o.status?.conditions, 'Available')!.message.includes('running') }),
      capture({ file: 'crash-loop-back-off', kind: 'App', key: 'acme/crashing', condition: c('Available', 'False', 'CrashLoopBackOff'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'progress-deadline-exceeded', kind: 'App', key: 'acme/stuck', condition: c('Progressing', 'False', 'ProgressDeadlineExceeded'), health: 'Degraded', messageFrom: 'Progressing' }),
      capture({ file: 'unschedulable', kind: 'App', key: 'acme/huge', condition: c('Scheduled', 'False', 'Unschedulable'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'invalid-resources', kind: 'App', key: 'acme/tiny', condition: c('Scheduled', 'False', 'InvalidResources'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'runtime-unavailable', kind: 'App', key: 'acme/imaged', condition: c('Available', 'False', 'RuntimeUnavailable'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'secret-not-found', kind: 'App', key: 'acme/secretive', condition: c('Scheduled', 'False', 'SecretNotFound'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'volume-not-found', kind: 'App', key: 'acme/unmounted', condition: c('Scheduled', 'False', 'VolumeNotFound'), health: 'Progressing', messageFrom: 'Ready' }),
      capture({ file: 'volume-single-writer', kind: 'App', key: 'acme/crowded', condition: c('Scheduled', 'False', 'VolumeSingleWriter'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'volumes-on-different-nodes', kind: 'App', key: 'acme/split', condition: c('Scheduled', 'False', 'VolumesOnDifferentNodes'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'tenant-suspended', kind: 'App', key: 'paused/paused', condition: c('Scheduled', 'False', 'TenantSuspended'), health: 'Suspended', messageFrom: 'Ready' }),
      capture({ file: 'quota-exceeded', kind: 'App', key: 'tight/second', condition: c('Scheduled', 'False', 'QuotaExceeded'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'no-tenant', kind: 'App', key: 'orphan/stray', condition: c('Scheduled', 'False', 'NoTenant'), health: 'Degraded', messageFrom: 'Ready' }),

      capture({ file: 'serving', kind: 'Route', key: 'acme/hello', condition: c('Ready', 'True', 'Serving'), health: 'Healthy', messageFrom: 'Ready' }),
      capture({ file: 'host-conflict', kind: 'Route', key: 'acme/second', condition: c('Accepted', 'False', 'HostConflict'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'host-claimed-by-another-tenant', kind: 'Route', key: 'rival/taken', condition: c('Accepted', 'False', 'HostConflict'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'app-not-found', kind: 'Route', key: 'acme/ghost', condition: c('ResolvedRefs', 'False', 'AppNotFound'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'host-not-allowed', kind: 'Route', key: 'acme/elsewhere', condition: c('Accepted', 'False', 'HostNotAllowed'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'no-healthy-backends', kind: 'Route', key: 'acme/sick', condition: c('Ready', 'False', 'NoHealthyBackends'), health: 'Progressing', messageFrom: 'Ready' }),
      capture({ file: 'tenant-suspended', kind: 'Route', key: 'paused/paused', condition: c('Ready', 'False', 'TenantSuspended'), health: 'Suspended', messageFrom: 'Ready' }),
      capture({ file: 'quota-exceeded', kind: 'Route', key: 'tight/second', condition: c('Accepted', 'False', 'QuotaExceeded'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'no-tenant', kind: 'Route', key: 'orphan/stray', condition: c('Accepted', 'False', 'NoTenant'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'certificate-valid', kind: 'Route', key: 'acme/secure', condition: c('CertificateReady', 'True', 'Valid'), health: 'Healthy', messageFrom: 'Ready', also: (o) => findCondition(o.status?.conditions, 'Ready')?.reason === 'Serving' && findCondition(o.status?.conditions, 'CertificateExpiring')?.reason === 'NotExpiring' }),
      capture({ file: 'certificate-shared', kind: 'Route', key: 'acme/tls-shared', condition: c('CertificateReady', 'True', 'Shared'), health: 'Healthy', messageFrom: 'Ready', also: (o) => findCondition(o.status?.conditions, 'Ready')?.reason === 'Serving' }),
      capture({ file: 'certificate-conflict', kind: 'Route', key: 'acme/tls-conflict', condition: c('CertificateReady', 'False', 'CertificateConflict'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'certificate-issued', kind: 'Route', key: 'acme/issued', condition: c('CertificateReady', 'True', 'Issued'), health: 'Healthy', messageFrom: 'Ready', also: (o) => findCondition(o.status?.conditions, 'Ready')?.reason === 'Serving' }),
      capture({ file: 'certificate-expires-soon', kind: 'Route', key: 'acme/soon', condition: c('CertificateExpiring', 'True', 'ExpiresSoon'), health: 'Healthy', messageFrom: 'CertificateExpiring', also: (o) => findCondition(o.status?.conditions, 'Ready')?.reason === 'Serving' }),
      capture({ file: 'certificate-expired', kind: 'Route', key: 'acme/over', condition: c('CertificateExpiring', 'True', 'Expired'), health: 'Degraded', messageFrom: 'Ready', also: (o) => findCondition(o.status?.conditions, 'Ready')?.reason === 'CertificateExpired' }),
      capture({ file: 'secret-not-found', kind: 'Route', key: 'acme/unsigned', condition: c('CertificateReady', 'False', 'SecretNotFound'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'certificate-host-mismatch', kind: 'Route', key: 'acme/wrong-host', condition: c('CertificateReady', 'False', 'CertificateHostMismatch'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'key-mismatch', kind: 'Route', key: 'acme/mismatched', condition: c('CertificateReady', 'False', 'KeyMismatch'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'invalid-certificate', kind: 'Route', key: 'acme/garbled', condition: c('CertificateReady', 'False', 'InvalidCertificate'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'issuer-not-found', kind: 'Route', key: 'acme/no-issuer', condition: c('CertificateReady', 'False', 'IssuerNotFound'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'issuer-refused', kind: 'Route', key: 'acme/refused', condition: c('CertificateReady', 'False', 'IssuerRefused'), health: 'Degraded', messageFrom: 'Ready' }),

      capture({ file: 'bound', kind: 'Volume', key: 'acme/data', condition: c('Provisioned', 'True', 'Provisioned'), health: 'Healthy', messageFrom: 'Bound', also: (o) => findCondition(o.status?.conditions, 'Ready')?.status === 'True' }),
      capture({ file: 'provisioning', kind: 'Volume', key: 'acme/vaulted', condition: c('Provisioned', 'False', 'Provisioning'), health: 'Progressing', messageFrom: 'Ready' }),
      capture({ file: 'waiting-for-first-consumer', kind: 'Volume', key: 'acme/spare', condition: c('Bound', 'False', 'WaitingForFirstConsumer'), health: 'Healthy', messageFrom: 'Ready' }),
      capture({ file: 'node-not-found', kind: 'Volume', key: 'acme/misplaced', condition: c('Bound', 'False', 'NodeNotFound'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'quota-exceeded', kind: 'Volume', key: 'tight/second', condition: c('Bound', 'False', 'QuotaExceeded'), health: 'Degraded', messageFrom: 'Ready' }),
      capture({ file: 'no-tenant', kind: 'Volume', key: 'orphan/stray', condition: c('Bound', 'False', 'NoTenant'), health: 'Degraded', messageFrom: 'Ready' }),
    ]);
  }, 180_000);

  it('captures a scale-up in progress and an automatic rollback', async () => {
    await app('slow', 'acme', { command: server(4_000) });
    await capture({ file: 'stateless-one-replica', kind: 'App', key: 'acme/slow', condition: c('Progressing', 'True', 'RolloutComplete'), health: 'Healthy', messageFrom: 'Available' });
    await updateSpec(clients.app, 'acme/slow', (spec) => ({ ...spec, replicas: 2 }));
    await capture({ file: 'rolling-out', kind: 'App', key: 'acme/slow', condition: c('Progressing', 'True', 'RollingOut'), health: 'Progressing', messageFrom: 'Progressing', also: (o) => findCondition(o.status?.conditions, 'Ready')?.status === 'True' && (o as App).status?.replicas === 2 });

    await app('flaky', 'acme', { rollout: { autoRollback: true, maxSurge: 1, maxUnavailable: 0 } });
    await eventually(async () => (findCondition((await clients.app.get('acme/flaky' as Key))?.status?.conditions, 'Progressing')?.reason === 'RolloutComplete' ? true : undefined), { what: 'flaky rolled out', timeoutMs: 30_000 });
    await updateSpec(clients.app, 'acme/flaky', (spec) => ({ ...spec, command: ['node', '-e', 'process.exit(3)'] }));
    await capture({ file: 'rolled-back', kind: 'App', key: 'acme/flaky', condition: c('Progressing', 'False', 'RolledBack'), health: 'Degraded', messageFrom: 'Ready' });
  }, 120_000);

  it('captures deletions waiting for what they hold', async () => {
    await app('keeper', 'leaving');
    await tenant('leaving', { namespaces: ['leaving'] });
    await eventually(async () => (findCondition((await clients.tenant.get('leaving' as Key))?.status?.conditions, 'Ready')?.status === 'True' ? true : undefined), { what: 'tenant leaving Ready' });
    await clients.tenant.delete('leaving' as Key);
    await capture({ file: 'deletion-blocked', kind: 'Tenant', key: 'leaving', condition: c('Ready', 'False', 'DeletionBlocked'), health: 'Progressing', messageFrom: 'Ready' });
    // `counter` holds volume data (it was placed on it first): another App gets nothing of it.
    await app('copycat', 'acme', { volumes: [{ volume: 'data', mountPath: '/data' }], rollout: { maxSurge: 0, maxUnavailable: 1 } });
    await capture({ file: 'volume-in-use', kind: 'App', key: 'acme/copycat', condition: c('Scheduled', 'False', 'VolumeInUse'), health: 'Degraded', messageFrom: 'Ready' });
    await clients.volume.delete('acme/data' as Key);
    await capture({ file: 'deletion-blocked', kind: 'Volume', key: 'acme/data', condition: c('Ready', 'False', 'DeletionBlocked'), health: 'Progressing', messageFrom: 'Ready' });
    await app('latecomer', 'acme', { volumes: [{ volume: 'data', mountPath: '/data' }], rollout: { maxSurge: 0, maxUnavailable: 1 } });
    await capture({ file: 'volume-deleting', kind: 'App', key: 'acme/latecomer', condition: c('Scheduled', 'False', 'VolumeDeleting'), health: 'Degraded', messageFrom: 'Ready' });
  }, 120_000);

  it('captures a node cordoned, draining, retired with instances, and lost', async () => {
    await updateSpec(clients.node, 'n2', (spec) => ({ ...spec, unschedulable: true }));
    await capture({ file: 'cordoned', kind: 'Node', key: 'n2', condition: c('Schedulable', 'False', 'Cordoned'), health: 'Suspended', messageFrom: 'Schedulable' });
    // The instance of `easterly` stays on n2 with its volume `east`: the drain holds.
    await updateSpec(clients.node, 'n2', (spec) => ({ ...spec, unschedulable: undefined, drain: { deadlineSeconds: 3600 } }));
    await capture({ file: 'draining', kind: 'Node', key: 'n2', condition: c('Schedulable', 'False', 'Draining'), health: 'Progressing', messageFrom: 'Schedulable' });
    await updateSpec(clients.node, 'n1', (spec) => ({ ...spec, decommission: true }));
    await capture({ file: 'decommissioned-with-instances', kind: 'Node', key: 'n1', condition: c('Schedulable', 'False', 'Decommissioned'), health: 'Degraded', messageFrom: 'Schedulable', also: (o) => findCondition(o.status?.conditions, 'Ready')?.status === 'True' });
    await updateSpec(clients.node, 'vault', (spec) => ({ ...spec, decommission: true }));
    await capture({ file: 'decommission-blocked', kind: 'Node', key: 'vault', condition: c('Ready', 'False', 'DecommissionBlocked'), health: 'Degraded', messageFrom: 'Ready' });
    await agents.get('n2')!.kill();
    await capture({ file: 'node-lost', kind: 'Node', key: 'n2', condition: c('Alive', 'False', 'NodeLost'), health: 'Degraded', messageFrom: 'Ready' });
    await capture({ file: 'node-lost', kind: 'Volume', key: 'acme/east', condition: c('Provisioned', 'False', 'NodeLost'), health: 'Degraded', messageFrom: 'Ready' });
    await clients.node.delete('n1' as Key);
    await capture({ file: 'deletion-blocked', kind: 'Node', key: 'n1', condition: c('Ready', 'False', 'DeletionBlocked'), health: 'Progressing', messageFrom: 'Ready' });
    await capture({ file: 'volume-node-lost', kind: 'App', key: 'acme/easterly', condition: c('Available', 'False', 'VolumeNodeLost'), health: 'Degraded', messageFrom: 'Ready' });
  }, 120_000);
});
