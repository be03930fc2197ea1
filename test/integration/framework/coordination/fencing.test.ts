/**
 * Fencing, proven with real processes, a real PostgreSQL and a real API server (issue 14 §2).
 * Replicas (fencing-replica.ts) reconcile Widgets without pause, each reconcile writing one fenced
 * row and one status update carrying the resourceVersion it read. Twice a replica is frozen with
 * SIGSTOP while the others take its keys and write, then thawed with SIGCONT:
 * 1. past its membership TTL: its row expires, the view moves on without it;
 * 2. within its TTL, while a newcomer joins and takes some of its keys: its row stays live all
 *    along (a fence that checks "is the writer alive" lets these writes through).
 * Every write it then attempts from its stale view must be refused: counted, and checked by two
 * oracles that know nothing of epochs — no key is written by a member after another member took
 * it over (SQL), and no status update is lost (the API server's count equals the writes that
 * landed).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, keyOfObject, type ResourceType } from '../../../../framework/client/index.js';
import { rendezvousOwner } from '../../../../framework/coordination/rendezvous.js';
import { createLogger } from '../../../../framework/log/logger.js';
import type { Key } from '../../../../framework/reconcile/index.js';
import { Store, frameworkMigrationsFolder, migrate } from '../../../../framework/store/index.js';
import { installCrds } from '../../../env/crds.js';
import { freshNamespace, kubeConfig, testEnv } from '../../../env/context.js';
import { REPO_ROOT } from '../../../env/environment.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';
import { ServerProcess } from '../../../env/server-process.js';
import type { Attempt, Widget } from './fencing-replica.js';

const KEYS = 36;
const widgetType: ResourceType = { group: 'test.tend.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
const databases = new FreshDatabases('fencing');
const logger = createLogger({ level: 'silent' });
const replicas = new Map<string, ServerProcess>();
const label = `fencing-${randomBytes(4).toString('hex')}`;
let url: string;
let store: Store;
let widgets: KubeClient<Widget>;
let dir: string;
let attemptsFile: string;
let keys: Key[];

beforeAll(async () => {
  await installCrds(testEnv().kubeconfigPath, join(REPO_ROOT, 'test/fixtures/crds'));
  url = await databases.create();
  store = new Store({ connectionString: url, logger });
  await migrate(store, { folders: [frameworkMigrationsFolder] });
  await store.query({
    name: 'test.fencing_writes_table',
    text: 'create table fencing_writes (id bigint generated always as identity primary key, key text not null, member bigint not null, epoch bigint not null, replica text not null)',
  });
  dir = await mkdtemp(join(tmpdir(), 'tend-fencing-'));
  attemptsFile = join(dir, 'attempts.jsonl');
  widgets = new KubeClient<Widget>(widgetType, kubeConfig(), 'fencing-test', { labelSelector: `fencing=${label}` });
  const ns = await freshNamespace('fencing');
  keys = [];
  for (let i = 0; i < KEYS; i++) {
    const w = await widgets.create({ apiVersion: 'test.tend.dev/v1', kind: 'Widget', metadata: { name: `w${i}`, namespace: ns, labels: { fencing: label } }, spec: { size: i } });
    keys.push(keyOfObject(w));
  }
});

afterAll(async () => {
  await Promise.all([...replicas.values()].map((r) => r.stop()));
  await store?.close();
  await databases.dropAll();
});

function startReplica(name: string, timing: { ttlMs: number; joinDelayMs: number }): ServerProcess {
  const options = {
    name, databaseUrl: url, kubeconfigPath: testEnv().kubeconfigPath, labelSelector: `fencing=${label}`, attemptsFile,
    heartbeatMs: 250, holdMs: 600, requeueMs: 100, ...timing,
  };
  const replica = ServerProcess.start({
    name,
    command: process.execPath,
    args: [
      '--import', pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href,
      join(REPO_ROOT, 'test/integration/framework/coordination/fencing-replica.ts'),
      JSON.stringify(options),
    ],
    cwd: REPO_ROOT,
    logFile: join(dir, `${name}.log`),
  });
  replicas.set(name, replica);
  return replica;
}

function attempts(): Attempt[] {
  let text = '';
  try {
    text = readFileSync(attemptsFile, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as Attempt);
}

async function view(): Promise<{ epoch: bigint; members: bigint[] }> {
  const [row] = await store.query<{ epoch: string; members: string[] }>({ name: 'test.view', text: 'select epoch::text as epoch, members::text[] as members from tend.membership_view' });
  return { epoch: BigInt(row!.epoch), members: row!.members.map(BigInt) };
}

/** The live member id of replica `name`, if it has one. */
async function memberOf(name: string): Promise<bigint | undefined> {
  const [row] = await store.query<{ id: string }>({ name: 'test.member_of', text: 'select id::text as id from tend.members where name = $1 and expires_at > now() order by id desc limit 1' }, [name]);
  return row ? BigInt(row.id) : undefined;
}

const ownerOf = (members: readonly bigint[], key: Key) => rendezvousOwner(members, `fencing\u0000${key}`);

/** Has `replica` landed both writes for each of `of`, from reads made after `since`? */
function landedSince(of: readonly Key[], since: number, by: (a: Attempt) => boolean): boolean {
  const landed = attempts().filter((a) => a.outcome === 'landed' && a.readAt > since && by(a));
  return of.every((key) => ['sql', 'api'].every((kind) => landed.some((a) => a.key === key && a.kind === kind)));
}

interface Pause {
  readonly replica: string;
  readonly member: string;
  /** The epoch the database holds when the replica is thawed: anything older is a stale view. */
  readonly epochAtCont: bigint;
  readonly stopAt: number;
  readonly contAt: number;
}

/** SIGSTOP `name`, wait for `meanwhile`, SIGCONT it. */
async function pause(name: string, meanwhile: (stopAt: number) => Promise<void>): Promise<Pause> {
  const replica = replicas.get(name)!;
  const member = String(await memberOf(name));
  const stopAt = Date.now();
  process.kill(replica.pid!, 'SIGSTOP');
  await meanwhile(stopAt);
  const { epoch } = await view();
  const contAt = Date.now();
  process.kill(replica.pid!, 'SIGCONT');
  return { replica: name, member, epochAtCont: epoch, stopAt, contAt };
}

/**
 * What the thawed replica attempted with its old view, and what became of it. SQL: writes handed
 * out under an epoch that is no longer the database's. API: writes from a read older than what
 * another replica wrote while it was frozen (resourceVersions are etcd revisions, compared here
 * only because this test knows its one etcd).
 */
function staleAttempts(p: Pause, kind: Attempt['kind']): Attempt[] {
  const all = attempts();
  const rewritten = new Map<string, bigint>();
  for (const a of all) {
    if (a.replica === p.replica || a.kind !== 'api' || a.outcome !== 'landed' || a.writeAt <= p.stopAt || a.writeAt >= p.contAt) continue;
    const written = BigInt(a.written!);
    if (written > (rewritten.get(a.key) ?? 0n)) rewritten.set(a.key, written);
  }
  return all.filter((a) =>
    a.replica === p.replica && a.kind === kind && a.writeAt >= p.contAt &&
    (kind === 'sql' ? BigInt(a.epoch) < p.epochAtCont : BigInt(a.resourceVersion) < (rewritten.get(a.key) ?? 0n)),
  );
}

/** Waits until every reconcile `name` read before `before` has reported both of its writes. */
async function settled(name: string, before: number): Promise<void> {
  await eventually(() => {
    const own = attempts().filter((a) => a.replica === name && a.readAt < before);
    const reads = new Set(own.map((a) => `${a.key} ${a.readAt}`));
    for (const read of reads) if (own.filter((a) => `${a.key} ${a.readAt}` === read).length < 2) return undefined;
    return true;
  }, { what: `${name}'s reconciles from before its pause to finish`, timeoutMs: 30_000 });
}

describe('fencing with real processes (SIGSTOP / SIGCONT)', () => {
  it('refuses every write a thawed replica attempts with its stale view, whether it outlived its TTL or a newcomer took its keys', async () => {
    const table: Record<string, { attempted: number; refused: number }> = {};
    const count = (phase: string, list: Attempt[]) => {
      table[phase] = { attempted: list.length, refused: list.filter((a) => a.outcome === 'refused').length };
      return list;
    };

    startReplica('r1', { ttlMs: 1_500, joinDelayMs: 400 });
    startReplica('r2', { ttlMs: 8_000, joinDelayMs: 400 });
    startReplica('r3', { ttlMs: 8_000, joinDelayMs: 400 });
    await eventually(async () => ((await view()).members.length === 3 && landedSince(keys, 0, () => true) ? true : undefined), {
      what: 'three members writing every key', timeoutMs: 60_000,
    });

    // 1. Frozen past its TTL: the others take its keys and write them; then it wakes up.
    const before1 = await view();
    const r1Member = await memberOf('r1');
    const r1Keys = keys.filter((k) => ownerOf(before1.members, k) === r1Member);
    const p1 = await pause('r1', async (stopAt) => {
      await eventually(async () => {
        const { members } = await view();
        return !members.includes(r1Member!) && landedSince(r1Keys, stopAt, (a) => a.replica !== 'r1') ? true : undefined;
      }, { what: "r1's keys taken over and written by the others", timeoutMs: 30_000 });
    });
    await settled('r1', p1.contAt);
    await eventually(async () => {
      const id = await memberOf('r1');
      return id !== undefined && String(id) !== p1.member && attempts().some((a) => a.replica === 'r1' && a.member === String(id) && a.outcome === 'landed') ? true : undefined;
    }, { what: 'r1 back under a new member id, writing again', timeoutMs: 30_000 });
    const sql1 = count('past TTL, SQL', staleAttempts(p1, 'sql'));
    const api1 = count('past TTL, API', staleAttempts(p1, 'api'));

    // 2. Frozen within its TTL while a newcomer joins: the newcomer takes some of its keys.
    startReplica('r4', { ttlMs: 8_000, joinDelayMs: 1_500 });
    const r4 = await eventually(() => memberOf('r4'), { what: 'r4 joined (not yet active)', timeoutMs: 60_000 });
    const before2 = await view();
    const after2 = [...before2.members, r4].sort((a, b) => (a < b ? -1 : 1));
    const movedFrom = async (name: string) => {
      const id = await memberOf(name);
      return keys.filter((k) => ownerOf(before2.members, k) === id && ownerOf(after2, k) === r4);
    };
    const [moved2, moved3] = [await movedFrom('r2'), await movedFrom('r3')];
    const [victim, moved] = moved2.length >= moved3.length ? ['r2', moved2] : ['r3', moved3];
    expect(moved.length).toBeGreaterThan(0);
    const victimMember = String(await memberOf(victim));
    const p2 = await pause(victim, async (stopAt) => {
      await eventually(async () => ((await view()).members.includes(r4) && landedSince(moved, stopAt, (a) => a.replica === 'r4') ? true : undefined), {
        what: `r4 active and writing the keys it took from ${victim}`, timeoutMs: 30_000,
      });
    });
    await settled(victim, p2.contAt);
    await eventually(() => (attempts().some((a) => a.replica === victim && BigInt(a.epoch) >= p2.epochAtCont && a.outcome === 'landed') ? true : undefined), {
      what: `${victim} caught up with the view`,
    });
    // Its row stayed live all along: liveness alone would have let its writes through.
    expect(String(await memberOf(victim))).toBe(victimMember);
    const sql2 = count('within TTL + newcomer, SQL', staleAttempts(p2, 'sql'));
    const api2 = count('within TTL + newcomer, API', staleAttempts(p2, 'api'));

    await Promise.all([...replicas.values()].map((r) => r.stop()));
    console.log('fencing: stale-view writes attempted / refused\n' + Object.entries(table).map(([phase, c]) => `  ${phase.padEnd(28)} ${String(c.attempted).padStart(4)} / ${c.refused}`).join('\n'));

    for (const list of [sql1, api1, sql2, api2]) {
      expect(list.length).toBeGreaterThan(0);
      expect(list.filter((a) => a.outcome !== 'refused')).toEqual([]);
    }

    // Oracle 1 (SQL): once another member wrote a key, the one before it never writes it again.
    const rows = await store.query<{ key: string; member: string }>({ name: 'test.writes', text: 'select key, member::text as member from fencing_writes order by fencing_writes.id' });
    const writers = new Map<string, string[]>();
    for (const row of rows) {
      const seq = writers.get(row.key) ?? [];
      if (seq.at(-1) !== row.member) seq.push(row.member);
      writers.set(row.key, seq);
    }
    const comebacks = [...writers].filter(([, seq]) => new Set(seq).size !== seq.length);
    expect(comebacks).toEqual([]);

    // Oracle 2 (API): every landed status write counted once; none was overwritten by a stale one.
    const landedApi = attempts().filter((a) => a.kind === 'api' && a.outcome === 'landed');
    for (const key of keys) {
      const w = await widgets.get(key);
      expect({ key, writes: w?.status?.writes ?? 0 }).toEqual({ key, writes: landedApi.filter((a) => a.key === key).length });
    }
  }, 180_000);
});
