/**
 * `tend why KIND/NAME`: the one debug story. What is desired, what is running (instances per node
 * with their state), what is routing to it, what the controllers last concluded (the reconcile
 * journal, from any replica), and — first — the one sentence that says what blocks it.
 */
import { stringify } from 'yaml';
import { GROUP, type KindInfo } from '../api/kinds.js';
import type { App } from '../api/types/app.js';
import type { Route } from '../api/types/route.js';
import { type Condition, entriesFor, type JournalRow, type Key, keyOf, type Resource, type Store } from '../framework/index.js';
import { connect, kindAndName, kindNamed, CONNECTION_USAGE, type Connection } from './connection.js';
import { parse } from './describe.js';
import { sealingKeyId } from '../secrets/seal.js';
import { envSection } from './format/app-env.js';
import { revisionTable } from './format/revisions.js';
import { revisionsOfApp } from '../controllers/app-revision-queries.js';
import type { RevisionRow } from '../reconcilers/app-revisions.js';
import { columns, indented } from './format/sections.js';
import { formatAge } from './format/table.js';
import { EXIT, type CliIo } from './io.js';
import { objectEvents } from './object-events.js';
import { blockingReason, readinessOf } from './readiness.js';
import * as q from './why-queries.js';
import { linesOf } from './instance-logs.js';
import { newestLines, type LogRow } from './instance-log-queries.js';

/** Usage text of the verb. */
export const WHY_USAGE = `Usage: tend why KIND/NAME [options]

Why is it (not) converging? Prints, for one object: the blocking reason in one sentence, what is
desired, what is running (instances per node, with their state), what is routing to it, its
conditions, the last reconciles from any replica, and recent events; for an App with an instance
that is not ready, the last lines that instance printed.

Options:
  -n, --namespace NS    namespace of namespaced kinds (default: default)
${CONNECTION_USAGE}
  -h, --help            show this help`;

/** Run `tend why`; returns the exit code (0 even when the object is not Ready: the answer is the output). */
export async function runWhy(args: readonly string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parse(args, 'why');
  if (values.help) {
    io.out(WHY_USAGE);
    return EXIT.ok;
  }
  const { info, name } = kindAndName('why', positionals);
  const namespace = info.scope === 'Namespaced' ? (values.namespace ?? 'default') : undefined;
  const connection = connect(values, env);
  try {
    const key = keyOf(namespace, name);
    const obj = await connection.client(info).get(key);
    if (!obj) {
      io.err(`tend: ${info.plural}.${GROUP} "${name}" not found${namespace ? ` in namespace ${namespace}` : ''}`);
      return EXIT.invalid;
    }
    for (const line of await explain(connection, info, obj, key, new Date())) io.out(line);
  } finally {
    await connection.close();
  }
  return EXIT.ok;
}

async function explain(connection: Connection, info: KindInfo, obj: Resource, key: Key, now: Date): Promise<string[]> {
  const store = connection.store;
  const blocking = blockingReason(obj);
  const title = `${info.kind} ${key}`;
  const lines = [blocking === undefined ? `${title} is Ready: nothing blocks it.` : `${title} is not Ready: ${blocking}`, ''];
  const observed = observedGeneration(obj);
  lines.push(
    `Desired (generation ${obj.metadata.generation ?? '?'}${observed !== undefined ? `, controllers have seen ${observed}` : ', not yet seen by a controller'}):`,
    ...indented(stringify(obj.spec ?? {})),
    ...(info.kind === 'App' ? indented(envSection(obj as App).join('\n')) : []),
  );
  if (!store) {
    lines.push('', '(no database known: pass --database-url to see instances, routing and the reconcile journal)');
    return lines;
  }
  let instances: q.InstanceRow[] = [];
  if (info.kind === 'App') {
    instances = await store.query<q.InstanceRow>(q.instancesOfApp, [key]);
    lines.push('', ...instanceSection('Running', instances, now));
    lines.push('', 'Routing:', ...(await routesToApp(connection, store, obj)));
    const revisions = await store.query<RevisionRow>(revisionsOfApp, [obj.metadata.uid]);
    lines.push('', `Revisions (the newest ${Math.min(revisions.length, 5)} of ${revisions.length}; tend rollout history app/${obj.metadata.name}):`);
    lines.push(...(revisions.length ? revisionTable(obj as App, revisions, 5) : ['  <none> recorded yet']));
  } else if (info.kind === 'Route') {
    lines.push('', 'Routing:', ...routingLines(await store.query<q.RoutingRow>(q.routingOfRoute, [key])));
    const app = (obj as Route).spec?.app;
    if (app) lines.push('', ...instanceSection(`Running (App ${obj.metadata.namespace}/${app})`, await store.query<q.InstanceRow>(q.instancesOfApp, [`${obj.metadata.namespace}/${app}`]), now));
  } else if (info.kind === 'Volume') {
    lines.push('', ...(await volumeSection(connection, store, obj, key)));
  } else if (info.kind === 'Node') {
    const [agent] = await store.query<q.AgentRow>(q.agentOfNode, [obj.metadata.name]);
    lines.push('', agent ? `Agent: last heartbeat ${formatAge(agent.heartbeat_at, now)} ago, running since ${agent.started_at.toISOString()}, memory enforced by ${agent.memory_enforcement}` : 'Agent: none has ever reported for this node (start `tend agent --node NAME` on it)');
    if (agent) lines.push(agent.sealing_key ? `Sealing key: ${sealingKeyId(agent.sealing_key)} (Secrets are sealed to it for this node's instances)` : 'Sealing key: none published: Apps with Secrets are not placed here (the agent publishes one at its start)');
    lines.push(identityLine((await store.query<q.IdentityRow>(q.identityOfNode, [obj.metadata.name]))[0], obj.metadata.name, now));
    const [overlay] = await store.query<q.NodePrefixRow>(q.overlayOfNode, [obj.metadata.name]);
    lines.push(overlay ? `Overlay: ${overlay.prefix} (node ${overlay.node_index} of the cluster prefix ${overlay.cluster}); its instances take addresses in it` : 'Overlay: no prefix yet (allocated when the Node controller first records the node)');
    lines.push('', ...instanceSection('Running here', await store.query<q.InstanceRow>(q.instancesOnNode, [obj.metadata.name]), now));
  }
  const conditions = ((obj.status ?? {}) as { conditions?: Condition[] }).conditions ?? [];
  lines.push('', 'Conditions:', ...(conditions.length ? columns(conditions.map((c) => [c.type, c.status, c.reason, c.message])) : ['  <none>']));
  const journal = await store.query<JournalRow>(entriesFor, [info.kind, key, 8]);
  lines.push('', 'Last reconciles (newest first):');
  lines.push(
    ...(journal.length
      ? columns([['AGE', 'REPLICA', 'CONTROLLER', 'GEN', 'RESULT', 'TOOK', 'MESSAGE'], ...journal.map((j) => [formatAge(j.at, now), j.replica, j.controller, j.generation ?? '', j.result, `${Math.round(j.duration_ms)}ms`, j.message ?? ''])])
      : ['  <none>: no replica has reconciled it yet (is a controller running? tend up, or tend run)']),
  );
  const events = await objectEvents(connection, obj, 5);
  lines.push('', 'Recent events:', ...(events.length ? columns(events.map((e) => [formatAge(e.lastSeen, now), e.type, e.reason, e.message])) : ['  <none>']));
  if (info.kind === 'App') lines.push(...(await lastOutput(store, instances)));
  return lines;
}

/** How many lines of a not-ready instance's output `tend why app/NAME` ends with. */
const WHY_LOG_LINES = 5;

/** The last lines of the instance most likely to say what is wrong: not ready, restarted most. */
async function lastOutput(store: Store, instances: readonly q.InstanceRow[]): Promise<string[]> {
  const [worst] = instances.filter((i) => i.desired === 'running' && !i.ready).sort((a, b) => b.restarts - a.restarts || (a.id < b.id ? -1 : 1));
  if (!worst) return [];
  const rows = (await store.query<LogRow>(newestLines, [worst.id, WHY_LOG_LINES])).reverse();
  const output = rows.flatMap((r) => linesOf(r.lines).map((line) => `  ${r.at.toISOString()} ${line}`)).slice(-WHY_LOG_LINES);
  return [
    '',
    `Last output of instance ${worst.id} (not ready${worst.restarts ? `, ${worst.restarts} restart${worst.restarts === 1 ? '' : 's'}` : ''}; more: tend logs instance/${worst.id}, --previous for the run before its last restart):`,
    ...(output.length ? output : ['  <nothing yet>']),
  ];
}

/** The node's PostgreSQL login: enrolled, revoked, or none (its agent then uses a shared role). */
function identityLine(row: q.IdentityRow | undefined, node: string, now: Date): string {
  if (!row) return `Identity: not enrolled: its agent connects with a shared database role (give it its own: tend node enroll ${node})`;
  const sessions = `${row.sessions} open session${row.sessions === 1 ? '' : 's'}`;
  if (row.revoked_at) return `Identity: revoked ${formatAge(row.revoked_at, now)} ago (role ${row.role} may not log in${row.sessions ? `; ${sessions}` : ''}); tend node enroll ${node} gives it new credentials`;
  if (row.can_login === null) return `Identity: role ${row.role} is missing from the server; enroll again: tend node enroll ${node}`;
  return `Identity: enrolled ${formatAge(row.enrolled_at, now)} ago as role ${row.role} (${row.can_login ? 'may log in' : 'may not log in'}, ${sessions})`;
}

function observedGeneration(obj: Resource): number | undefined {
  const status = (obj.status ?? {}) as { observedGeneration?: number; conditions?: Condition[] };
  return status.conditions?.find((c) => c.type === 'Ready')?.observedGeneration ?? status.observedGeneration;
}

function instanceSection(title: string, rows: readonly q.InstanceRow[], now: Date): string[] {
  if (rows.length === 0) return [`${title}: no instances`];
  const ready = rows.filter((r) => r.ready).length;
  return [
    `${title}: ${rows.length} instance${rows.length === 1 ? '' : 's'}, ${ready} ready`,
    ...columns([
      ['NODE', 'INSTANCE', 'OVERLAY ADDRESS', 'DESIRED', 'PHASE', 'READY', 'RESTARTS', 'LAST EXIT', 'NODE STATE'],
      ...rows.map((r) => [
        r.node,
        r.id,
        r.overlay_address ?? '<none>',
        r.desired,
        r.phase === 'failed' && r.reason ? `failed (${r.reason})` : (r.phase ?? 'not started yet'),
        r.ready ? 'yes' : 'no',
        String(r.restarts),
        lastExit(r.last_exit),
        `${r.node_state}${r.heartbeat_at ? ` (heartbeat ${formatAge(r.heartbeat_at, now)} ago)` : ' (no agent yet)'}`,
      ]),
    ]),
    // Refused instances say why, one line each: the message does not fit a column.
    ...rows.filter((r) => r.phase === 'failed' && r.reason).map((r) => `  ${r.id} on ${r.node} refused: ${r.reason}: ${r.message ?? ''}`),
  ];
}

async function volumeSection(connection: Connection, store: Store, volume: Resource, key: string): Promise<string[]> {
  const [row] = await store.query<q.VolumeWhyRow>(q.volumeRow, [key]);
  const { items } = await connection.client<App>(kindNamed('App')).list();
  const mounting = items.filter((a) => a.metadata.namespace === volume.metadata.namespace && (a.spec?.volumes ?? []).some((v) => v.volume === volume.metadata.name));
  const lines = [`Mounted by: ${mounting.length ? mounting.map((a) => `App ${a.metadata.name}`).join(', ') : 'no App'}`];
  if (!row) return ['Data: no row yet (the Volume controller has not seen it)', ...lines];
  const where = row.node
    ? `on node ${row.node} (${row.lost_since ? `lost since ${row.lost_since.toISOString()}` : (row.node_state ?? 'unknown')})`
    : 'not bound to a node yet (bound when the first App that mounts it is placed)';
  const usage = row.usage === null ? 'usage not reported yet' : `${mib(row.usage)} of ${mib(row.size)} used`;
  const latest = row.backups.at(-1);
  return [
    `Data: ${where}; ${row.desired === 'deleted' ? 'being removed; ' : ''}${row.phase ?? 'not provisioned yet'}${row.message ? ` (${row.message})` : ''}; ${usage}`,
    `Backups: ${row.backups.length}${latest ? `, latest ${latest.id} at ${latest.time}` : ''}`,
    ...lines,
  ];
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)}Gi` : `${(bytes / 2 ** 20).toFixed(1)}Mi`;
}

function lastExit(exit: q.InstanceRow['last_exit']): string {
  if (!exit) return '-';
  return [exit.reason, exit.code !== undefined ? `code ${exit.code}` : undefined, exit.signal].filter(Boolean).join(' ') || 'exited';
}

async function routesToApp(connection: Connection, store: Store, app: Resource): Promise<string[]> {
  const { items } = await connection.client<Route>(kindNamed('Route')).list();
  const routes = items.filter((r) => r.metadata.namespace === app.metadata.namespace && r.spec?.app === app.metadata.name);
  if (routes.length === 0) return ['  no Route sends traffic to this App'];
  const lines: string[] = [];
  for (const route of routes) {
    const key = `${route.metadata.namespace}/${route.metadata.name}`;
    const rows = await store.query<q.RoutingRow>(q.routingOfRoute, [key]);
    const readiness = readinessOf(route);
    lines.push(`  Route ${key} (${readiness.ready ? 'Ready' : `not Ready: ${readiness.reason}`}):`);
    lines.push(...routingLines(rows).map((l) => `  ${l}`));
  }
  return lines;
}

function routingLines(rows: readonly q.RoutingRow[]): string[] {
  if (rows.length === 0) return ['  nothing: no edge serves it (see the conditions)'];
  return rows.map((r) => `  ${r.host}${r.path_prefix} → ${r.backends.length ? r.backends.map((b) => `${b.address}:${b.port}`).join(', ') : 'no healthy backend (the edge answers 503)'}`);
}
