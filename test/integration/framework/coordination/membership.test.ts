import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FENCED_TX_IDLE_TIMEOUT_MS, fencedTx, isFenced } from '../../../../framework/coordination/fence.js';
import { Membership } from '../../../../framework/coordination/membership.js';
import { createLogger } from '../../../../framework/log/logger.js';
import type { Key } from '../../../../framework/reconcile/index.js';
import { Store, frameworkMigrationsFolder, migrate, type NamedQuery } from '../../../../framework/store/index.js';
import { eventually } from '../../../env/eventually.js';
import { FreshDatabases } from '../../../env/fresh-database.js';

const logger = createLogger({ level: 'silent' });
const databases = new FreshDatabases('membership');
const keys = Array.from({ length: 3_000 }, (_, i) => `tenant-${i}` as Key);
const timing = { heartbeatMs: 100, ttlMs: 600, joinDelayMs: 250 };

let url: string;
const stores: Store[] = [];

beforeAll(async () => {
  url = await databases.create();
  const store = new Store({ connectionString: url, logger });
  stores.push(store);
  await migrate(store, { folders: [frameworkMigrationsFolder] });
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await databases.dropAll();
});

const fencedSelect: NamedQuery = { name: 'test.fenced', text: 'select tend.fenced($1::bigint) as ok' };
const newcomerActive: NamedQuery = { name: 'test.newcomer_active', text: 'select active_at <= clock_timestamp() as active from tend.members where id = $1' };

/** The view row as stored, its row version (xmin) included: any write to it changes that. */
async function viewRow(): Promise<{ epoch: string; members: string; xmin: string }> {
  const [row] = await stores[0]!.query<{ epoch: string; members: string; xmin: string }>({ name: 'test.view_row', text: 'select epoch::text, members::text, xmin::text from tend.membership_view' });
  return row!;
}

/** Heartbeats so far, summed over members (each renewal moves heartbeat_at). */
async function heartbeats(): Promise<number> {
  const [row] = await stores[0]!.query<{ ms: number }>({ name: 'test.heartbeats', text: `select coalesce(sum(extract(epoch from heartbeat_at - started_at) * 1000), 0)::float8 / ${timing.heartbeatMs} as ms from tend.members where expires_at > now()` });
  return row!.ms;
}

async function liveMember(id: bigint): Promise<boolean> {
  const rows = await stores[0]!.query({ name: 'test.live_member', text: 'select 1 from tend.members where id = $1 and expires_at > now()' }, [String(id)]);
  return rows.length === 1;
}

/** A replica's membership with its own pool; `stop` leaves, `crash` cuts it off from PostgreSQL. */
function replica(name: string) {
  const store = new Store({ connectionString: url, logger, poolSize: 2 });
  stores.push(store);
  const membership = new Membership({ store, name, logger, ...timing });
  const controller = new AbortController();
  const running = membership.start(controller.signal);
  return {
    membership,
    async stop() {
      controller.abort();
      await running;
    },
    async crash() {
      // No leave, no more heartbeats: what SIGKILL looks like from the database.
      await store.close();
      controller.abort();
      await running;
    },
  };
}

/** How many of `keys` each replica owns; throws unless every key has exactly one owner. */
function ownership(replicas: { membership: Membership }[]): number[] {
  const counts = replicas.map(() => 0);
  for (const key of keys) {
    const owners = replicas.flatMap((r, i) => (r.membership.owns('tenant', key) ? [i] : []));
    if (owners.length !== 1) throw new Error(`${key} has ${owners.length} owners`);
    counts[owners[0]!]!++;
  }
  return counts;
}

describe('Membership (real PostgreSQL)', () => {
  it('shares keys among three replicas, each key owned by exactly one, about a third each', async () => {
    const replicas = [replica('a'), replica('b'), replica('c')];
    await Promise.all(replicas.map((r) => r.membership.ready()));
    const counts = await eventually(() => (replicas.every((r) => r.membership.activeMembers().length === 3) ? ownership(replicas) : undefined));
    for (const count of counts) expect(Math.abs(count / keys.length - 1 / 3)).toBeLessThan(0.05);
    await Promise.all(replicas.map((r) => r.stop()));
  });

  it('a newcomer owns nothing until its join delay has passed, then takes its share', async () => {
    const first = replica('first');
    await eventually(() => (first.membership.activeMembers().length === 1 ? ownership([first]) : undefined));
    const late = replica('late');
    await late.membership.ready();
    expect(keys.some((k) => late.membership.owns('tenant', k))).toBe(false);
    const counts = await eventually(() =>
      first.membership.activeMembers().length === 2 && late.membership.activeMembers().length === 2 ? ownership([first, late]) : undefined,
    );
    expect(counts[1]).toBeGreaterThan(keys.length / 4);
    await Promise.all([first.stop(), late.stop()]);
  });

  it('hands a crashed replica\'s keys to the others once its row expires, and tells them which keys they gained', async () => {
    const [a, b, c] = [replica('a'), replica('b'), replica('c')];
    await eventually(() => (a.membership.activeMembers().length === 3 ? ownership([a, b, c]) : undefined));
    const gained: Key[] = [];
    a.membership.onChange((ownedBefore) => {
      for (const key of keys) if (a.membership.owns('tenant', key) && !ownedBefore('tenant', key)) gained.push(key);
    });
    const cOwned = keys.filter((k) => c.membership.owns('tenant', k));
    await c.crash();
    await eventually(() => (a.membership.activeMembers().length === 2 && b.membership.activeMembers().length === 2 ? ownership([a, b]) : undefined), {
      what: 'two live owners',
    });
    expect(gained.length).toBeGreaterThan(0);
    expect(gained.every((k) => cOwned.includes(k))).toBe(true);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('a replica that leaves gracefully stops owning at once and the others take over', async () => {
    const [a, b] = [replica('a'), replica('b')];
    await eventually(() => (a.membership.activeMembers().length === 2 ? ownership([a, b]) : undefined));
    await b.stop();
    expect(keys.some((k) => b.membership.owns('tenant', k))).toBe(false);
    await eventually(() => ownership([a]), { what: 'a owns every key' });
    await a.stop();
  });

  it('a replica cut off past its expiry stops owning by itself and rejoins under a new fence', async () => {
    const store = new Store({ connectionString: url, logger, poolSize: 2 });
    stores.push(store);
    const membership = new Membership({ store, name: 'paused', logger, ...timing });
    const controller = new AbortController();
    const running = membership.start(controller.signal);
    await eventually(() => (membership.activeMembers().length >= 1 && keys.some((k) => membership.owns('tenant', k)) ? true : undefined));
    const firstId = membership.id!;
    const firstFence = membership.fence();
    const ownsAnything: boolean[] = [];
    membership.onChange(() => ownsAnything.push(keys.some((k) => membership.owns('tenant', k))));
    // Expire its row behind its back, as if it had been paused for longer than the TTL.
    await stores[0]!.query({ name: 'test.expire_member', text: `update tend.members set expires_at = now() - interval '1 second' where id = $1` }, [String(firstId)]);
    await eventually(() => (membership.id !== firstId && membership.fence() > firstFence ? true : undefined), { what: 'a new member id and a later fence' });
    await eventually(() => (keys.every((k) => membership.owns('tenant', k)) ? true : undefined), { what: 'owning again after rejoin' });
    expect(ownsAnything[0]).toBe(false);
    controller.abort();
    await running;
  });

  it('leaves the view row alone in steady state: heartbeats renew members, the epoch stays', async () => {
    const replicas = [replica('a'), replica('b')];
    await eventually(() => (replicas.every((r) => r.membership.activeMembers().length === 2) ? true : undefined));
    const before = await viewRow();
    const beats = await heartbeats();
    await eventually(async () => ((await heartbeats()) >= beats + 10 ? true : undefined), { what: 'ten more heartbeats' });
    expect(await viewRow()).toEqual(before);
    expect(replicas.map((r) => r.membership.fence())).toEqual([BigInt(before.epoch), BigInt(before.epoch)]);
    await Promise.all(replicas.map((r) => r.stop()));
  });

  it('moves the epoch when a member joins, and refuses a write with the old one although its writer is alive', async () => {
    const a = replica('a');
    await eventually(() => (a.membership.activeMembers().length === 1 ? true : undefined));
    const old = a.membership.fence();
    const b = replica('b');
    await eventually(() => (a.membership.activeMembers().length === 2 ? true : undefined), { what: 'a sees b' });
    expect(a.membership.fence()).toBeGreaterThan(old);
    expect(await liveMember(a.membership.id!)).toBe(true);
    const refused = await stores[0]!.query(fencedSelect, [String(old)]).catch((e: unknown) => e);
    expect(isFenced(refused)).toBe(true);
    expect(await stores[0]!.query(fencedSelect, [String(a.membership.fence())])).toEqual([{ ok: true }]);
    expect(await stores[0]!.query(fencedSelect, ['0'])).toEqual([{ ok: true }]);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('holds the view still while a fenced transaction is open: the newcomer owns keys only after it commits', async () => {
    const a = replica('a');
    await eventually(() => (a.membership.activeMembers().length === 1 ? true : undefined));
    const epoch = a.membership.fence();
    let newcomer: ReturnType<typeof replica> | undefined;
    await fencedTx(stores[0]!, epoch, async (tx) => {
      newcomer = replica('late');
      await newcomer.membership.ready();
      // Past its join delay by the database's clock, yet the view cannot move on under this transaction.
      await eventually(async () => ((await tx.query<{ active: boolean }>(newcomerActive, [String(newcomer!.membership.id)]))[0]?.active ? true : undefined));
      expect((await viewRow()).epoch).toBe(String(epoch));
      expect(keys.some((k) => newcomer!.membership.owns('tenant', k))).toBe(false);
    });
    await eventually(() => (keys.some((k) => newcomer!.membership.owns('tenant', k)) ? true : undefined), { what: 'the newcomer owning keys after the commit' });
    // `a` learns the new epoch at its own next heartbeat, which may come after the newcomer's.
    await eventually(() => (a.membership.fence() > epoch ? true : undefined), { what: 'a on the new epoch' });
    await Promise.all([a.stop(), newcomer!.stop()]);
  });

  it('cuts off a client silent inside a fenced transaction, so the view moves on without it', async () => {
    const a = replica('a');
    await eventually(() => (a.membership.activeMembers().length === 1 ? true : undefined));
    const epoch = a.membership.fence();
    let release!: () => void;
    const silent = new Promise<void>((resolve) => (release = resolve));
    const frozen = fencedTx(stores[0]!, epoch, async (tx) => {
      await silent; // a replica frozen mid-transaction
      await tx.query(fencedSelect, [String(epoch)]);
    }).catch((e: unknown) => e);
    const b = replica('b');
    // Generous: on a loaded machine the server's idle timeout, b's join delay and a's heartbeat each lag.
    await eventually(() => (a.membership.fence() > epoch ? true : undefined), { what: 'the view moving on', timeoutMs: FENCED_TX_IDLE_TIMEOUT_MS + 40_000 });
    release();
    expect(await frozen).toBeInstanceOf(Error);
    await Promise.all([a.stop(), b.stop()]);
  }, FENCED_TX_IDLE_TIMEOUT_MS + 60_000);
});
