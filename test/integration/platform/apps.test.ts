/**
 * Apps end to end, with real parts: controllers in this process, two `tend agent` processes as
 * two worker nodes, and the instances they start as real HTTP servers.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../api/types/app.js';
import type { Route } from '../../../api/types/route.js';
import { resourceType } from '../../../api/resource-types.js';
import { KubeClient } from '../../../framework/client/index.js';
import type { Node } from '../../../api/types/node.js';
import { buildPlatform } from '../../../controllers/platform.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { createLogger } from '../../../framework/log/logger.js';
import type { Key } from '../../../framework/reconcile/index.js';
import { Store, frameworkMigrations, migrate } from '../../../framework/store/index.js';
import { platformMigrations } from '../../../migrations/index.js';
import { platformClients } from '../../env/platform-clients.js';
import { startTestEnvironment, type TestEnvironment } from '../../env/environment.js';
import { eventually } from '../../env/eventually.js';
import type { ServerProcess } from '../../env/server-process.js';
import { enrolledCredentials } from '../../env/enroll.js';
import { startTend } from '../../env/tend-process.js';
import { freePort } from '../../env/ports.js';
import { send } from '../../env/http-request.js';
import { updateSpec } from '../../env/update-spec.js';

// Lost after three missed beats (3 s): loose enough for a loaded 2-core machine.
const HEARTBEAT_MS = 1_000;
const logger = createLogger({ level: 'warn' });
let env: TestEnvironment;
let store: Store;
let clients: ReturnType<typeof platformClients>;
const agents = new Map<string, ServerProcess>();
const stateDirs = new Map<string, string>();
const credentialFiles = new Map<string, string>();
const stop = new AbortController();
let running: Promise<void>;

beforeAll(async () => {
  // A private API server: this file's App controller must be the only one reconciling its Apps.
  env = await startTestEnvironment();
  clients = platformClients(env.apiserver.kubeconfigPath);
  const kc = clients.kubeConfig;
  store = new Store({ connectionString: env.postgres.databaseUrl, logger });
  await migrate(store, { tracks: [frameworkMigrations, platformMigrations] });
  running = buildPlatform({ kubeConfig: kc, store, logger, replica: 'test', membership: false, cluster: { heartbeatMs: HEARTBEAT_MS, lostGraceMs: 2_000 } }).start(stop.signal);
  for (const node of ['n1', 'n2']) {
    await clients.node.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Node', metadata: { name: node }, spec: { address: '127.0.0.1', capacity: { cpu: '2', memory: '2Gi', disk: '10Gi' } } });
    stateDirs.set(node, mkdtempSync(join(tmpdir(), `tend-agent-${node}-`)));
    // Each agent connects as its node's own login, as on a cluster: its writes pass the real grants and policies.
    credentialFiles.set(node, await enrolledCredentials(env.postgres.databaseUrl, 'node', node, env.dir));
    startAgent(node);
  }
  await clients.tenant.create({ apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['default'], allowedHostnames: ['*.acme.test'] } });
  await nodesReady();
}, 120_000);

/** Changes a Node's spec, re-reading and trying again when the Node controller wrote in between. */
async function updateNode(name: string, change: (spec: NonNullable<Node['spec']>) => NonNullable<Node['spec']>): Promise<void> {
  await updateSpec(clients.node, name, change);
}

/** Both nodes alive and schedulable, as the scheduler's rows say (tests that spread need both). */
async function nodesReady(): Promise<void> {
  for (const node of ['n1', 'n2']) {
    await eventually(async () => (findCondition((await clients.node.get(node as Key))?.status?.conditions, 'Ready')?.status === 'True' ? true : undefined), { what: `node ${node} Ready`, timeoutMs: 30_000 });
    await eventually(async () => ((await store.query<{ state: string }>({ name: 'test.node_state', text: 'select state from platform.nodes where name = $1' }, [node]))[0]?.state === 'ready' ? true : undefined), { what: `${node} schedulable` });
  }
}

afterAll(async () => {
  // Apps first, so the agents stop their instances; then the agents, the controllers, the servers.
  for (const app of (await clients?.app.list())?.items ?? []) await clients.app.delete(`default/${app.metadata.name}` as Key);
  await eventually(async () => ((await store.query<{ n: number }>({ name: 'test.count_instances', text: 'select count(*)::int as n from platform.instances' }))[0]!.n === 0 ? true : undefined), { what: 'every instance gone', timeoutMs: 30_000 }).catch(() => {});
  await Promise.all([...agents.values()].map((a) => a.stop()));
  stop.abort();
  await running;
  await env?.stop();
});

/** Starts (or restarts) the agent of `node` on its state folder: a restarted agent adopts what runs. */
function startAgent(node: string): ServerProcess {
  const agent = startTend(`agent-${node}`, ['agent', '--node', node, '--credentials-file', credentialFiles.get(node)!, '--state-dir', stateDirs.get(node)!, '--heartbeat-ms', String(HEARTBEAT_MS), '--poll-ms', '1000', '--crash-backoff-ms', '200'], join(env.dir, `agent-${node}.log`));
  agents.set(node, agent);
  return agent;
}

interface Placed { id: string; node: string; port: number | null; ready: boolean; desired: string }
const instancesOf = (app: string) =>
  store.query<Placed & { revision: string }>({ name: 'test.instances_of', text: 'select id, node, port, ready, desired, revision from platform.instances where app = $1 order by id' }, [app]);

async function update(name: string, change: (spec: NonNullable<App['spec']>) => NonNullable<App['spec']>): Promise<void> {
  await updateSpec(clients.app, `default/${name}`, change);
}

async function condition(name: string, type: string, status: string, reason?: string) {
  return eventually(async () => {
    const c = findCondition((await clients.app.get(`default/${name}` as Key))?.status?.conditions, type);
    return c?.status === status && (!reason || c.reason === reason) ? c : undefined;
  }, { what: `${name} ${type}=${status} ${reason ?? ''}`, timeoutMs: 45_000 });
}

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return res.text();
}

function hello(name: string, replicas: number, extra: Partial<NonNullable<App['spec']>> = {}): App {
  return {
    apiVersion: 'tend.dev/v1alpha1',
    kind: 'App',
    metadata: { name, namespace: 'default' },
    spec: { replicas, command: ['node', 'examples/hello-server.mjs'], resources: { memory: '64Mi', cpu: '100m' }, healthCheck: { httpGet: { path: '/healthz' }, periodSeconds: 1 }, ...extra },
  };
}

async function readyApp(name: string, replicas: number): Promise<App> {
  return eventually(async () => {
    const app = await clients.app.get(`default/${name}` as Key);
    const ready = findCondition(app?.status?.conditions, 'Ready');
    if (ready?.status === 'True' && app?.status?.readyReplicas === replicas && app.status.replicas === replicas) return app;
    throw new Error(`status ${JSON.stringify(app?.status)}; instances ${JSON.stringify(await instancesOf(`default/${name}`))}`);
  }, { what: `app ${name} Ready with ${replicas} replicas`, timeoutMs: 45_000 });
}

describe('Apps on two nodes with real agents', () => {
  it('runs three replicas as processes that answer HTTP, and the App says Ready', async () => {
    await clients.app.create(hello('web', 3));
    const app = await readyApp('web', 3);
    expect(app.status?.updatedReplicas).toBe(3);
    const instances = await instancesOf('default/web');
    expect(instances).toHaveLength(3);
    for (const i of instances) expect(await get(`http://127.0.0.1:${i.port}/`)).toBe(`hello from ${i.id}\n`);
  });

  it('scales down to one, stopping the processes of the others', async () => {
    const before = await instancesOf('default/web');
    await update('web', (spec) => ({ ...spec, replicas: 1 }));
    await readyApp('web', 1);
    await eventually(async () => ((await instancesOf('default/web')).length === 1 ? true : undefined), { what: 'two instances forgotten' });
    const [kept] = await instancesOf('default/web');
    for (const gone of before.filter((i) => i.id !== kept!.id)) {
      await expect(get(`http://127.0.0.1:${gone.port}/`)).rejects.toThrow();
    }
  });

  it('rolls out a new revision without ever having fewer than replicas − maxUnavailable ready', async () => {
    await clients.app.create(hello('roll', 3, { rollout: { maxSurge: 1, maxUnavailable: 0 } }));
    const first = await readyApp('roll', 3);
    await update('roll', (spec) => ({ ...spec, env: [{ name: 'VERSION', value: '2' }] }));
    let fewest = Infinity;
    const rolled = await eventually(async () => {
      const live = (await instancesOf('default/roll')).filter((i) => i.desired === 'running');
      fewest = Math.min(fewest, live.filter((i) => i.ready).length);
      const app = await clients.app.get('default/roll' as Key);
      return app?.status?.revision !== first.status?.revision && app?.status?.updatedReplicas === 3 && app.status.readyReplicas === 3 && live.length === 3 ? app : undefined;
    }, { what: 'rollout complete', timeoutMs: 60_000 });
    expect(fewest).toBeGreaterThanOrEqual(3);
    const running = (await instancesOf('default/roll')).filter((i) => i.desired === 'running');
    expect(new Set(running.map((i) => i.revision))).toEqual(new Set([rolled.status!.revision]));
  });

  it('scales a healthy App up without Ready turning False: its lastTransitionTime stays', async () => {
    await clients.app.create(hello('steady', 2));
    const settled = await readyApp('steady', 2);
    const since = findCondition(settled.status?.conditions, 'Ready')!.lastTransitionTime;
    // Every status the API server holds from now on, not just the ones a poll happens to see.
    const seen: string[] = [];
    const watching = new AbortController();
    const watch = clients.app.watch(settled.metadata.resourceVersion!, (event) => {
      if (event.type === 'MODIFIED' && event.object.metadata.name === 'steady') {
        const ready = findCondition(event.object.status?.conditions, 'Ready');
        seen.push(`${ready?.status} ${ready?.reason} ${event.object.status?.readyReplicas}`);
      }
    }, watching.signal);
    await update('steady', (spec) => ({ ...spec, replicas: 3 }));
    const scaled = await readyApp('steady', 3);
    await condition('steady', 'Progressing', 'True', 'RolloutComplete');
    watching.abort();
    await watch;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((s) => !s.startsWith('True '))).toEqual([]);
    expect(findCondition(scaled.status?.conditions, 'Ready')?.lastTransitionTime).toBe(since);
  });

  it('stops a broken revision at its progress deadline while the old instances keep serving', async () => {
    await clients.app.create(hello('broken', 2, { rollout: { maxSurge: 1, maxUnavailable: 0, progressDeadlineSeconds: 3 } }));
    await readyApp('broken', 2);
    await update('broken', (spec) => ({ ...spec, command: ['node', '-e', 'process.exit(3)'] }));
    const stuck = await condition('broken', 'Progressing', 'False', 'ProgressDeadlineExceeded');
    expect(stuck.message).toMatch(/not ready after 3 s/);
    const old = (await instancesOf('default/broken')).filter((i) => i.ready);
    expect(old).toHaveLength(2);
    for (const i of old) expect(await get(`http://127.0.0.1:${i.port}/`)).toBe(`hello from ${i.id}\n`);
  });

  it('kills an instance over its memory limit and says OOMKilled, in CrashLoopBackOff', async () => {
    const hog = `require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT); const a = []; setInterval(() => a.push(Buffer.alloc(16 << 20, 1)), 50);`;
    await clients.app.create(hello('hog', 1, { command: ['node', '-e', hog], resources: { memory: '96Mi', cpu: '100m' }, healthCheck: undefined }));
    const available = await eventually(async () => {
      const c = findCondition((await clients.app.get('default/hog' as Key))?.status?.conditions, 'Available');
      return c?.message.includes('OOMKilled') ? c : undefined;
    }, { what: 'OOMKilled reported', timeoutMs: 30_000 });
    expect(available.message).toMatch(/last exit OOMKilled \(used [\d.]+Mi of its 96Mi memory limit\)/);
    expect(available.reason).toBe('CrashLoopBackOff');
    expect(available.message).toMatch(/^0 of 1 ready; 1 instance in CrashLoopBackOff: default\.hog-\S+ on n\d: \d+ restarts?, last exit OOMKilled \(.*\) at \S+Z, next restart at \S+Z$/);
  });

  it('drains a node: its instances are replaced on another node first, then stopped', async () => {
    await nodesReady();
    await clients.app.create(hello('moving', 2, { placement: { strategy: 'spread' }, rollout: { maxSurge: 1, maxUnavailable: 0 } }));
    await readyApp('moving', 2);
    expect(new Set((await instancesOf('default/moving')).map((i) => i.node))).toEqual(new Set(['n1', 'n2']));
    await updateNode('n1', (spec) => ({ ...spec, drain: {} }));
    await eventually(async () => {
      const live = (await instancesOf('default/moving')).filter((i) => i.desired === 'running');
      return live.length === 2 && live.every((i) => i.node === 'n2' && i.ready) ? true : undefined;
    }, { what: 'both instances on n2 and ready', timeoutMs: 45_000 });
    await updateNode('n1', (spec) => ({ ...spec, drain: undefined }));
    await condition('moving', 'Ready', 'True');

  });

  it('replaces the instances of a node whose agent was killed, once the node is lost', async () => {
    await nodesReady();
    await clients.app.create(hello('survivor', 2, { placement: { strategy: 'spread' } }));
    await readyApp('survivor', 2);
    const onN1 = (await instancesOf('default/survivor')).filter((i) => i.node === 'n1');
    expect(onN1).toHaveLength(1);
    await agents.get('n1')!.kill();
    await eventually(async () => (findCondition((await clients.node.get('n1' as Key))?.status?.conditions, 'Ready')?.reason === 'NodeLost' ? true : undefined), { what: 'n1 lost' });
    await eventually(async () => {
      const live = (await instancesOf('default/survivor')).filter((i) => i.desired === 'running');
      return live.length === 2 && live.every((i) => i.node === 'n2' && i.ready) ? true : undefined;
    }, { what: 'both instances on n2', timeoutMs: 45_000 });
    // The agent comes back, adopts its orphaned process and stops it: it is no longer assigned.
    startAgent('n1');
    await eventually(async () => get(`http://127.0.0.1:${onN1[0]!.port}/`).then(() => undefined, () => true), { what: 'the orphan stopped', timeoutMs: 30_000 });
  });

  it('stops the instances of a deleted App before letting it go', async () => {
    await clients.app.create(hello('doomed', 2));
    await readyApp('doomed', 2);
    const ports = (await instancesOf('default/doomed')).map((i) => i.port);
    await clients.app.delete('default/doomed' as Key);
    await eventually(async () => ((await clients.app.get('default/doomed' as Key)) === undefined ? true : undefined), { what: 'app gone', timeoutMs: 30_000 });
    expect(await instancesOf('default/doomed')).toEqual([]);
    for (const port of ports) await expect(get(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('says exactly why an App that fits nowhere is not scheduled', async () => {
    await nodesReady();
    await clients.app.create(hello('huge', 1, { resources: { memory: '64Gi' } }));
    const ready = await eventually(async () => {
      const c = findCondition((await clients.app.get('default/huge' as Key))?.status?.conditions, 'Scheduled');
      return c?.status === 'False' ? c : undefined;
    }, { what: 'Scheduled=False' });
    expect(ready.reason).toBe('Unschedulable');
    expect(ready.message).toMatch(/^0\/2 nodes can run 1 instance of 64Gi\/100m: 2 insufficient memory \(largest free \d+Mi\)$/);
  });
});

describe('Routes to those Apps', () => {
  let edge: ServerProcess;
  let edgePort: number;
  // The edge connects as its own login, which may only read the routing table.
  let edgeCredentials: string;
  const startEdge = () => {
    edge = startTend('edge', ['edge', '--listen', `127.0.0.1:${edgePort}`, '--credentials-file', edgeCredentials, '--state-dir', join(env.dir, 'edge'), '--check-ms', '1000', '--log-level', 'warn'], join(env.dir, 'edge.log'));
  };
  /** One request through the edge: status and body (status 0 when the edge itself did not answer). */
  const viaEdge = async (host: string, path = '/') => send(edgePort, host, path).catch(() => ({ status: 0, body: '' }));
  /** Requests `host` in a loop until `during` settles; returns every status seen. */
  const loadWhile = async (host: string, during: Promise<unknown>) => {
    const statuses: number[] = [];
    let finished = false;
    const finish = () => {
      finished = true;
    };
    during.then(finish, finish);
    while (!finished) statuses.push((await viaEdge(host)).status);
    await during;
    return statuses;
  };

  beforeAll(async () => {
    edgePort = await freePort();
    edgeCredentials = await enrolledCredentials(env.postgres.databaseUrl, 'edge', 'edge', env.dir);
    startEdge();
  });
  afterAll(async () => {
    await edge?.stop();
  });

  const routes = () => new KubeClient<Route>(resourceType('Route'), clients.kubeConfig);
  const route = (name: string, host: string, app: string): Route => ({ apiVersion: 'tend.dev/v1alpha1', kind: 'Route', metadata: { name, namespace: 'default' }, spec: { host, app } });
  const routeCondition = async (name: string, type: string, status: string, reason?: string) =>
    eventually(async () => {
      const c = findCondition((await routes().get(`default/${name}` as Key))?.status?.conditions, type);
      return c?.status === status && (!reason || c.reason === reason) ? c : undefined;
    }, { what: `route ${name} ${type}=${status} ${reason ?? ''}`, timeoutMs: 30_000 });
  const routingOf = async (host: string) =>
    (await store.query<{ route: string; backends: { address: string; port: number }[] }>({ name: 'test.routing_of', text: 'select route, backends from platform.routing where host = $1' }, [host]))[0];

  it('serves a Route at the App\'s ready instances and reports its URL and backends', async () => {
    await clients.app.create(hello('site', 2));
    await readyApp('site', 2);
    await routes().create(route('site', 'site.acme.test', 'site'));
    await routeCondition('site', 'Ready', 'True');
    const ports = (await instancesOf('default/site')).map((i) => `127.0.0.1:${i.port}`).sort();
    const status = (await routes().get('default/site' as Key))!.status!;
    expect(status.url).toBe('http://site.acme.test/');
    expect([...status.backends!].sort()).toEqual(ports);
    expect((await routingOf('site.acme.test'))?.backends.map((b) => `${b.address}:${b.port}`).sort()).toEqual(ports);
  });

  it('gives a host to the first Route; the later one says HostConflict and takes over when the first goes', async () => {
    // Creation times have one-second resolution (a tie goes to the name): make this one younger.
    const first = (await routes().get('default/site' as Key))!;
    await eventually(() => (Date.now() - Date.parse(first.metadata.creationTimestamp!) > 1_000 ? true : undefined));
    await routes().create(route('second', 'site.acme.test', 'site'));
    const conflict = await routeCondition('second', 'Accepted', 'False', 'HostConflict');
    expect(conflict.message).toBe('site.acme.test/ is served by route default/site, created first');
    expect((await routingOf('site.acme.test'))?.route).toBe('default/site');
    await routes().delete('default/site' as Key);
    await routeCondition('second', 'Accepted', 'True');
    await eventually(async () => ((await routingOf('site.acme.test'))?.route === 'default/second' ? true : undefined), { what: 'second serves the host' });
  });

  it('refuses a host the tenant does not allow, and reports a missing App', async () => {
    await routes().create(route('foreign', 'shop.elsewhere.test', 'site'));
    await routeCondition('foreign', 'Accepted', 'False', 'HostNotAllowed');
    expect(await routingOf('shop.elsewhere.test')).toBeUndefined();
    await routes().create(route('dangling', 'dangling.acme.test', 'nothing-here'));
    await routeCondition('dangling', 'ResolvedRefs', 'False', 'AppNotFound');
  });

  it('reports NoHealthyBackends while no instance passes its health check, and serves none of them', async () => {
    // Runs, but never listens: its health check is refused, so it never becomes ready.
    await clients.app.create(hello('sick', 1, { command: ['node', '-e', 'setInterval(() => {}, 1000)'] }));
    await routes().create(route('sick', 'sick.acme.test', 'sick'));
    await routeCondition('sick', 'Ready', 'False', 'NoHealthyBackends');
    expect((await routingOf('sick.acme.test'))?.backends).toEqual([]);
  });

  it('brings a request by host through the edge to the App', async () => {
    await eventually(async () => ((await viaEdge('second.acme.test')).status !== 0 ? true : undefined), { what: 'edge listening' });
    await routes().create(route('front', 'front.acme.test', 'site'));
    await routeCondition('front', 'Ready', 'True');
    const answer = await eventually(async () => {
      const r = await viaEdge('front.acme.test');
      return r.status === 200 ? r : undefined;
    }, { what: 'front.acme.test served' });
    expect(answer.body).toMatch(/^hello from default\.site-/);
    expect((await viaEdge('nobody.acme.test')).status).toBe(404);
    expect((await viaEdge('sick.acme.test')).status).toBe(503);
  });

  it('sees no 5xx through a rolling update of the App', async () => {
    const statuses = await loadWhile('front.acme.test', (async () => {
      const before = (await clients.app.get('default/site' as Key))!.status!.revision;
      await update('site', (spec) => ({ ...spec, env: [{ name: 'VERSION', value: 'next' }], rollout: { maxSurge: 1, maxUnavailable: 0 } }));
      await eventually(async () => {
        const app = await clients.app.get('default/site' as Key);
        const live = (await instancesOf('default/site')).filter((i) => i.desired === 'running');
        return app?.status?.revision !== before && live.length === 2 && live.every((i) => i.ready && i.revision === app?.status?.revision) ? true : undefined;
      }, { what: 'rollout done', timeoutMs: 60_000 });
    })());
    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it('sees no 5xx through a drain of the node the App runs on', async () => {
    await nodesReady();
    const node = (await instancesOf('default/site')).find((i) => i.desired === 'running')!.node;
    const statuses = await loadWhile('front.acme.test', (async () => {
      await updateNode(node, (spec) => ({ ...spec, drain: {} }));
      await eventually(async () => {
        const live = (await instancesOf('default/site')).filter((i) => i.desired === 'running');
        return live.length === 2 && live.every((i) => i.node !== node && i.ready) ? true : undefined;
      }, { what: 'site moved off the draining node', timeoutMs: 60_000 });
      await updateNode(node, (spec) => ({ ...spec, drain: undefined }));
    })());
    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it('serves the same table after the edge restarts', async () => {
    await edge.stop();
    startEdge();
    const answer = await eventually(async () => {
      const r = await viaEdge('front.acme.test');
      return r.status === 200 ? r : undefined;
    }, { what: 'served again after restart' });
    expect(answer.body).toMatch(/^hello from default\.site-/);
  });
});
