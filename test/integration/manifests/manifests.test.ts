/**
 * manifests/ (deploying tend itself): `kubectl kustomize` renders the base and both overlays, the API
 * server accepts every rendered object (server-side dry run, strict field validation), and tend's
 * processes run for real from the rendered containers' own command lines — the controllers with a
 * token of the rendered ServiceAccount, so with exactly the ClusterRole's rights, through a create
 * → Ready → delete cycle of every kind; the node agent from the systemd unit's ExecStart; the edge
 * with the files its init container prepares. The API server's audit log shows every request the
 * controllers made was granted and every verb the ClusterRole grants was used.
 *
 * A test environment of its own: its API server writes an audit log, and the Prometheus Operator's
 * kinds (ServiceMonitor, PrometheusRule), which a bare API server lacks, are installed there from
 * the stand-in CRDs in test/fixtures/monitoring-crds (upstream's names and types for the fields
 * used; an unknown field fails the dry run).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../../api/kinds.js';
import { resourceType } from '../../../api/resource-types.js';
import { publishCertificatesPublicKey } from '../../../certificates/certificates-key.js';
import { KubeClient, type Resource } from '../../../framework/client/index.js';
import { findCondition, type Condition } from '../../../framework/conditions/index.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store } from '../../../framework/store/index.js';
import { loadOrCreateSealingKey } from '../../../secrets/key-file.js';
import { auditFlags, auditedRequests } from '../../env/audit-log.js';
import { installCrds } from '../../env/crds.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { REPO_ROOT, startTestEnvironment, type TestEnvironment } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import { send } from '../../env/http-request.js';
import { killRecordedInstances } from '../../env/instance-records.js';
import { findObject, podSpec, renderManifests, withFlags, type Rendered } from '../../env/manifests.js';
import { freePort } from '../../env/ports.js';
import type { ServerProcess } from '../../env/server-process.js';
import { startTend } from '../../env/tend-process.js';
import { updateSpec } from '../../env/update-spec.js';

const run = promisify(execFile);
const SA_USER = 'system:serviceaccount:tend-system:tend-controller';
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const FIXTURE = join(REPO_ROOT, 'test/fixtures/instances/http-instance.mjs');
const dir = mkdtempSync(join(tmpdir(), 'tend-manifests-'));
const audit = auditFlags(dir, SA_USER);
let env: TestEnvironment;
const processes: ServerProcess[] = [];

async function kubectl(...args: string[]): Promise<string> {
  try {
    return (await run(env.binaries.kubectl!, ['--kubeconfig', env.apiserver.kubeconfigPath, ...args], { cwd: REPO_ROOT, maxBuffer: 32 << 20 })).stdout;
  } catch (err) {
    throw new Error(`kubectl ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
}

const render = (folder: string) => renderManifests(env.binaries.kubectl!, folder).then((r) => r.objects);
const kinds = (objects: readonly Rendered[]) => objects.map((o) => o.kind).sort();

beforeAll(async () => {
  env = await startTestEnvironment({ apiserverArgs: audit.args });
  if (!env.binaries.kubectl) throw new Error(`no kubectl in ${env.binaries.source}`);
  await installCrds(env.apiserver.kubeconfigPath, join(REPO_ROOT, 'test/fixtures/monitoring-crds'));
}, 120_000);

afterAll(async () => {
  for (const p of processes.reverse()) await p.stop();
  killRecordedInstances(join(dir, 'agent'));
  await env?.stop();
});

describe('kubectl kustomize manifests/', () => {
  it('renders the base: CRDs from crds/, RBAC, controllers with PDB and HPA, the edge and its Service, metrics, NetworkPolicies', async () => {
    const objects = await render('manifests');
    expect(kinds(objects)).toEqual([
      'ClusterRole', 'ClusterRoleBinding', ...KINDS.map(() => 'CustomResourceDefinition'), 'Deployment', 'Deployment', 'HorizontalPodAutoscaler',
      'Namespace', 'NetworkPolicy', 'NetworkPolicy', 'PodDisruptionBudget', 'PodDisruptionBudget', 'Service', 'Service', 'ServiceAccount', 'ServiceAccount', 'ServiceMonitor',
    ]);
    // The generated CRDs as they are in crds/, not copies.
    const crdsOnly = await render('crds');
    for (const crd of crdsOnly) expect(findObject(objects, crd.kind, crd.metadata.name).spec).toEqual(crd.spec);
    expect(crdsOnly.map((c) => c.metadata.name).sort()).toEqual(KINDS.map((k) => `${k.plural}.tend.dev`).sort());
    for (const o of objects.filter((o) => !['CustomResourceDefinition', 'Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind))) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('tend-system');
    }
    // The HPA owns the controllers' count; the Deployment sets none that a sync would put back.
    expect((findObject(objects, 'HorizontalPodAutoscaler', 'tend-controller').spec as { minReplicas: number }).minReplicas).toBe(3);
    expect((findObject(objects, 'Deployment', 'tend-controller').spec as { replicas?: number }).replicas).toBeUndefined();
    for (const name of ['tend-controller', 'tend-edge']) {
      const pod = podSpec(objects, name);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        expect(c.image, c.name).toBe(`ghcr.io/tend-dev/tend:${VERSION}`);
        expect(c.securityContext, c.name).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      }
    }
    expect(podSpec(objects, 'tend-edge')).toMatchObject({ serviceAccountName: 'tend-edge', automountServiceAccountToken: false });
  });

  it('renders the dev overlay with one replica and no HPA or ServiceMonitor, and prod with three edges', async () => {
    const dev = await render('manifests/overlays/dev');
    expect(kinds(dev)).not.toContain('HorizontalPodAutoscaler');
    expect(kinds(dev)).not.toContain('ServiceMonitor');
    expect((findObject(dev, 'Deployment', 'tend-controller').spec as { replicas: number }).replicas).toBe(1);
    expect((findObject(dev, 'Deployment', 'tend-edge').spec as { replicas: number }).replicas).toBe(1);
    expect(podSpec(dev, 'tend-controller').containers[0]!.args).toContain('--allow-unisolated-nodes');
    const prod = await render('manifests/overlays/prod');
    expect(kinds(prod)).toEqual(kinds(await render('manifests')));
    expect((findObject(prod, 'Deployment', 'tend-edge').spec as { replicas: number }).replicas).toBe(3);
  });

  it('gives objects the API server accepts, every one (server-side dry run), for the base and both overlays', async () => {
    // A dry run creates nothing, so the namespace the others go into must exist.
    await kubectl('apply', '-f', 'manifests/base/namespace.yaml');
    for (const folder of ['manifests', 'manifests/overlays/dev', 'manifests/overlays/prod']) {
      const out = await kubectl('apply', '--server-side', '--dry-run=server', '--field-manager=tend-test', '-k', folder, '-o', 'name');
      expect(out.trim().split('\n').length, `${folder}:\n${out}`).toBe((await render(folder)).length);
    }
  });
});

type Obj = Resource & { spec?: Record<string, unknown>; status?: { observedGeneration?: number; conditions?: Condition[] } };

describe('the controllers, with the rights of the ClusterRole only', () => {
  it('take every kind through create → Ready → delete; every request they make is granted, and every verb granted is used', async () => {
    const objects = await render('manifests');
    await kubectl('apply', '--server-side', '--field-manager=tend-test', '-k', 'manifests');
    const admin = new KubeConfig();
    admin.loadFromFile(env.apiserver.kubeconfigPath);
    const core = admin.makeApiClient(CoreV1Api);
    const { status } = await core.createNamespacedServiceAccountToken({ name: 'tend-controller', namespace: 'tend-system', body: { spec: { expirationSeconds: 3600, audiences: [] } } });
    const cluster = admin.getCurrentCluster()!;
    const kubeconfig = join(dir, 'tend-controller.kubeconfig');
    writeFileSync(kubeconfig, stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
      clusters: [{ name: 'test', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
      users: [{ name: 'tend-controller', user: { token: status!.token } }],
      contexts: [{ name: 'sa', context: { cluster: 'test', user: 'tend-controller' } }],
    }), { mode: 0o600 });

    // The controllers: the Deployment's args, this machine's addresses, and the database the Secret would give.
    const url = env.postgres.databaseUrl;
    const healthPort = await freePort();
    const controllerArgs = podSpec(objects, 'tend-controller').containers[0]!.args!;
    expect(controllerArgs[0]).toBe('run');
    processes.push(startTend('tend-controller', withFlags(controllerArgs, {
      '--health-port': String(healthPort), '--health-host': '127.0.0.1', '--kubeconfig': kubeconfig, '--database-url': url,
      '--replica': 'tend-controller-0', '--node-heartbeat-ms': '1000', '--join-delay-ms': '0',
    }), join(dir, 'controller.log')));
    // The probes' paths: /readyz once the migrations ran and the caches synced.
    await eventually(async () => ((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status === 200 ? true : undefined), { what: 'controller /readyz', timeoutMs: 60_000 });
    const store = new Store({ connectionString: url, logger: pino({ level: 'silent' }) });

    // The node agent: the systemd unit's command line, with this test's folders.
    const unit = readFileSync(join(REPO_ROOT, 'manifests/systemd/tend-agent.service'), 'utf8');
    const [binary, ...agentArgs] = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(' ');
    expect(binary).toBe('/usr/local/bin/tend');
    const node = 'rbac-node';
    const nodeCredentials = await enrolledCredentials(url, 'node', node, dir);
    processes.push(startTend('agent', withFlags(agentArgs, {
      '--credentials-file': nodeCredentials, '--state-dir': join(dir, 'agent'), '--backup-dir': join(dir, 'backups'), '--heartbeat-ms': '1000', '--poll-ms': '1000',
    }), join(dir, 'agent.log')));

    const ns = 'rbac-apps';
    const SECRET = `value-${process.pid}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'web-secret' }, stringData: { value: SECRET } } });
    const client = (kind: string) => new KubeClient<Obj>(resourceType(kind as never), admin);
    const wanted: [string, string, Obj][] = [
      ['Tenant', 'rbac', { apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'rbac' }, spec: { namespaces: [ns], allowedHostnames: ['*.rbac.localhost'] } }],
      ['Node', node, { apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: node }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' } } }],
      ['Volume', `${ns}/data`, { apiVersion: 'tend.dev/v1alpha1', kind: 'Volume', metadata: { name: 'data', namespace: ns }, spec: { size: '64Mi' } }],
      ['App', `${ns}/web`, {
        apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: ns },
        spec: {
          replicas: 1, command: ['node', FIXTURE], resources: { memory: '64Mi', cpu: '50m' }, healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 },
          env: [{ name: 'SECRET_VALUE', valueFrom: { secretKeyRef: { name: 'web-secret', key: 'value' } } }],
          volumes: [{ volume: 'data', mountPath: '/data' }], rollout: { maxSurge: 0, maxUnavailable: 1 },
        },
      }],
      // Deleted without its finalizer (as `kubectl patch … finalizers: null` does): the orphan sweep
      // reads it from the API before it stops its instances — the ClusterRole's `get`.
      ['App', `${ns}/orphan`, {
        apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'orphan', namespace: ns },
        spec: { replicas: 1, command: ['node', FIXTURE], resources: { memory: '64Mi', cpu: '10m' }, healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 } },
      }],
      ['Route', `${ns}/web`, { apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name: 'web', namespace: ns }, spec: { host: 'web.rbac.localhost', app: 'web' } }],
    ];
    for (const [kind, , body] of wanted) await client(kind).create(body);
    for (const [kind, key] of wanted) {
      await eventually(async () => {
        const o = await client(kind).get(key as Key);
        if (o?.status?.observedGeneration === o?.metadata.generation && findCondition(o?.status?.conditions, 'Ready')?.status === 'True') return true;
        throw new Error(`${kind} ${key}: ${JSON.stringify(o?.status?.conditions?.map((c) => `${c.type}=${c.status} ${c.reason}: ${c.message}`))}`);
      }, { what: `${kind} ${key} Ready`, timeoutMs: 90_000 });
    }

    // The edge: the Deployment's args, with the files its init container makes from the Secrets' (root's, 0440).
    const secrets = join(dir, 'secrets');
    const privateDir = join(dir, 'private');
    mkdirSync(secrets);
    mkdirSync(privateDir);
    renameSync(await enrolledCredentials(url, 'edge', 'edge-0', dir), join(secrets, 'credentials.json'));
    await publishCertificatesPublicKey(store, loadOrCreateSealingKey(join(secrets, 'certificates.key')));
    for (const file of ['credentials.json', 'certificates.key']) chmodSync(join(secrets, file), 0o440);
    const edgePod = podSpec(objects, 'tend-edge');
    const init = edgePod.initContainers![0]!.command!;
    await run(process.execPath, [...init.slice(1, -2), secrets, privateDir]);
    for (const file of ['credentials.json', 'certificates.key']) expect(statSync(join(privateDir, file)).mode & 0o777, file).toBe(0o600);
    const [http, https, adminPort] = [await freePort(), await freePort(), await freePort()];
    const edgeArgs = edgePod.containers[0]!.args!;
    expect(edgeArgs[0]).toBe('edge');
    processes.push(startTend('edge', withFlags(edgeArgs, {
      '--listen': `127.0.0.1:${http}`, '--https-listen': `127.0.0.1:${https}`, '--admin-listen': `127.0.0.1:${adminPort}`,
      '--credentials-file': join(privateDir, 'credentials.json'), '--certificates-key-file': join(privateDir, 'certificates.key'), '--state-dir': join(dir, 'edge'),
    }), join(dir, 'edge.log')));
    await eventually(async () => ((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status === 200 ? true : undefined), { what: 'edge /readyz', timeoutMs: 30_000 });
    await eventually(async () => {
      const answer = await send(http, 'web.rbac.localhost', '/env/SECRET_VALUE');
      return answer.status === 200 && answer.body === SECRET ? true : undefined;
    }, { what: 'the Secret\'s value through the edge', timeoutMs: 30_000 });

    const apps = client('App');
    const orphan = (await apps.get(`${ns}/orphan` as Key))!;
    await apps.update({ ...orphan, metadata: { ...orphan.metadata, finalizers: [] } });
    await apps.delete(`${ns}/orphan` as Key);
    const running = { name: 'test.orphan_running', text: `select count(*)::int as n from platform.instances where app = $1 and desired = 'running'` };
    await eventually(async () => ((await store.query<{ n: number }>(running, [`${ns}/orphan`]))[0]!.n === 0 ? true : undefined), { what: 'the orphan\'s instance stopped by the sweep (every 30 s)', timeoutMs: 75_000 });

    // Events: suspending the Tenant is one (create), resuming another, suspending again a repeat (patch of its count).
    const tenants = client('Tenant');
    const readyOf = async () => findCondition((await tenants.get('rbac' as Key))?.status?.conditions, 'Ready');
    for (const suspended of [true, false, true]) {
      await updateSpec(tenants, 'rbac', (spec) => ({ ...spec, suspended }));
      await eventually(async () => ((await readyOf())?.status === (suspended ? 'False' : 'True') ? true : undefined), { what: `tenant suspended=${suspended}`, timeoutMs: 30_000 });
    }
    await eventually(async () => {
      const { items } = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=rbac' });
      return items.some((e) => e.reason === 'Suspended' && (e.count ?? 0) >= 2) ? true : undefined;
    }, { what: 'the repeated Suspended event counted', timeoutMs: 30_000 });

    const rest = wanted.filter(([, key]) => key !== `${ns}/orphan`);
    for (const [kind, key] of [...rest].reverse()) await client(kind).delete(key as Key);
    for (const [kind, key] of rest) {
      await eventually(async () => ((await client(kind).get(key as Key)) === undefined ? true : undefined), { what: `${kind} ${key} gone`, timeoutMs: 90_000 });
    }
    await store.close();
    for (const p of processes.splice(0).reverse()) await p.stop();

    // What the controllers asked the API server for, against what the ClusterRole grants.
    const requests = auditedRequests(audit.logFile);
    expect(requests.filter((r) => r.code === 403).map((r) => `${r.verb} ${r.requestURI}`)).toEqual([]);
    const used = new Set(requests.filter((r) => r.resource).map((r) => `${r.verb} ${r.resource}`));
    const rules = (findObject(objects, 'ClusterRole', 'tend-controller') as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }).rules;
    const granted = new Set(rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${g}/${res}`)))));
    expect([...used].filter((u) => !granted.has(u))).toEqual([]);
    // A rule's resources are handled alike (one generic client), so each of its verbs must be used on one of them.
    const unused = rules.flatMap((r) => r.verbs.filter((v) => !r.apiGroups.some((g) => r.resources.some((res) => used.has(`${v} ${g}/${res}`)))).map((v) => `${v} ${r.resources.join(',')}`));
    expect(unused).toEqual([]);
  }, 300_000);
});
