import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Membership } from '../../../../framework/coordination/membership.js';
import { createLogger } from '../../../../framework/log/logger.js';
import type { Key } from '../../../../framework/reconcile/index.js';
import { Store, frameworkMigrationsFolder, migrate } from '../../../../framework/store/index.js';
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
    const firstFence = membership.fence();
    const ownsAnything: boolean[] = [];
    membership.onChange(() => ownsAnything.push(keys.some((k) => membership.owns('tenant', k))));
    // Expire its row behind its back, as if it had been paused for longer than the TTL.
    await stores[0]!.query({ name: 'test.expire_member', text: `update tend.members set expires_at = now() - interval '1 second' where id = $1` }, [String(firstFence)]);
    await eventually(() => (membership.fence() !== firstFence && membership.fence() > firstFence ? true : undefined), { what: 'a new fence' });
    await eventually(() => (keys.every((k) => membership.owns('tenant', k)) ? true : undefined), { what: 'owning again after rejoin' });
    expect(ownsAnything[0]).toBe(false);
    controller.abort();
    await running;
  });
});
