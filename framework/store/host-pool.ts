import pg from 'pg';
import { hostName, type DatabaseTarget } from './database-url.js';
import { NoAcceptableHostError } from './no-acceptable-host-error.js';
import { checkSession } from './session-check.js';

// pg-pool's words when a checkout waited `connectionTimeoutMillis` in its queue (pg-pool 3.x).
// Matched by message because pg-pool gives the error no code; a test pins the behaviour.
export const POOL_WAIT_TIMEOUT = 'timeout exceeded when trying to connect';
const TOO_MANY_CONNECTIONS = '53300';

/** Where one pooled connection goes: its host, and that host's trust generation when it was made. */
interface Placement {
  readonly index: number;
  readonly generation: number;
}

/**
 * One `pg.Pool` over every host of a (multi-host) database URL: what the Store's pool is.
 * New connections go to the host that last gave an acceptable session; one that is refused, times
 * out or fails the `target_session_attrs` check (a standby, a read-only server) moves the choice
 * to the next host, and `connect()` tries each host once before giving up with
 * `NoAcceptableHostError`. So after a failover the first checkout finds the promoted server, and
 * later ones go straight to it. Unlike libpq, which always starts from the first host, the
 * choice sticks: a dead old primary that hangs (rather than refuses) is not waited on each time.
 *
 * A server that turns read-only under open connections (SQLSTATE 25006 on a write) is
 * `distrust`ed: every connection made to it so far is dropped when next handed out or returned,
 * and new ones are checked again. One pool keeps `max` a limit on all hosts together.
 */
export class HostPool {
  private readonly pool: pg.Pool;
  private readonly placements = new WeakMap<object, Placement>();
  /** Connections that connected and are not removed yet (pg-pool's totalCount counts those still connecting too). */
  private open = 0;
  private readonly generations: number[];
  /** Index of the host new connections go to. */
  private current = 0;

  /** `config` is what pg.Pool takes, less the connection string (the target gives one per host). */
  constructor(
    private readonly target: DatabaseTarget,
    config: Omit<pg.PoolConfig, 'connectionString' | 'Client' | 'onConnect'>,
  ) {
    this.generations = target.hostUrls.map(() => 0);
    const placements = this.placements;
    const pick = (): Placement => ({ index: this.current, generation: this.generations[this.current]! });
    const hostUrls = target.hostUrls;
    // pg-pool makes each connection with `new Client(options)`: the host is chosen right then.
    class HostClient extends pg.Client {
      constructor(options: pg.ClientConfig) {
        const placement = pick();
        super({ ...options, connectionString: hostUrls[placement.index] });
        placements.set(this, placement);
      }
    }
    this.pool = new pg.Pool({
      ...config,
      Client: HostClient as unknown as new () => pg.ClientBase,
      // Run by pg-pool on each new connection before it is handed out; a rejection ends it and fails that checkout.
      onConnect: target.targetSessionAttrs === 'any' ? undefined : (client: pg.ClientBase) => checkSession(client, target.targetSessionAttrs),
    });
    const opened = new WeakSet<object>();
    this.pool.on('connect', (client) => {
      opened.add(client);
      this.open++;
    });
    this.pool.on('remove', (client) => {
      if (opened.delete(client)) this.open--;
    });
  }

  /** A connection to a host that gave an acceptable session; the pool's own wait timeout otherwise passes through. */
  async connect(): Promise<pg.PoolClient> {
    const reasons = new Map<string, string>();
    let lastError: unknown;
    for (let failed = 0; failed < this.target.hostUrls.length; ) {
      const index = this.current;
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        // A busy pool is not a host's fault.
        if (err instanceof Error && err.message === POOL_WAIT_TIMEOUT) throw err;
        // A server at its connection limit is the right host, full: the Store caps the pool at
        // what it holds. Moving on would find only standbys and report "no acceptable host".
        if (err instanceof pg.DatabaseError && err.code === TOO_MANY_CONNECTIONS) throw err;
        lastError = err;
        reasons.set(this.name(index), (err as Error).message);
        this.moveOn(index);
        failed++;
        continue;
      }
      if (this.trusted(client)) return client;
      // Made before its server was distrusted: drop it (bounded: each one is dropped once).
      client.release(new Error('its server refused a write (read-only); dropped'));
    }
    // One host: pg's own error, as before host lists (the Store classifies it).
    if (this.target.hostUrls.length === 1 && !(lastError instanceof Error && lastError.name === 'SessionRefusedError')) throw lastError;
    throw new NoAcceptableHostError(this.target.targetSessionAttrs === 'any' ? 'working' : this.target.targetSessionAttrs, reasons);
  }

  /**
   * `client`'s server refused a write: every connection to it made so far is dropped as it comes
   * back, and the next new one to it is checked again (and so goes elsewhere if it is a standby now).
   */
  distrust(client: pg.PoolClient): void {
    const placement = this.placements.get(client);
    if (!placement || placement.generation !== this.generations[placement.index]) return;
    this.generations[placement.index]!++;
    this.moveOn(placement.index);
  }

  /** False for a connection made before its server was distrusted. */
  trusted(client: pg.PoolClient): boolean {
    const placement = this.placements.get(client);
    return placement === undefined || placement.generation === this.generations[placement.index];
  }

  /** `host:port` of the host new connections go to, for logs. */
  get currentHost(): string {
    return this.name(this.current);
  }

  get totalCount(): number {
    return this.pool.totalCount;
  }

  get idleCount(): number {
    return this.pool.idleCount;
  }

  get waitingCount(): number {
    return this.pool.waitingCount;
  }

  /** Connections open now, busy or idle (not those still connecting). */
  get openCount(): number {
    return this.open;
  }

  /** How many connections the pool may hold; lowered while the server refuses more (read by pg-pool at each checkout). */
  get max(): number {
    return this.pool.options.max ?? 10;
  }

  set max(value: number) {
    this.pool.options.max = value;
  }

  /** A new connection opened (after `connect`'s session check). */
  onOpened(listener: () => void): void {
    this.pool.on('connect', listener);
  }

  /** An idle connection failed (pg-pool has removed it). */
  onError(listener: (err: Error) => void): void {
    this.pool.on('error', listener);
  }

  /** Closes every connection once the busy ones are released. */
  end(): Promise<void> {
    return this.pool.end();
  }

  /** The host after `index` gets new connections, unless another checkout moved on already. */
  private moveOn(index: number): void {
    if (this.current === index) this.current = (index + 1) % this.target.hostUrls.length;
  }

  private name(index: number): string {
    const host = this.target.hosts[index];
    return host ? hostName(host) : 'the server';
  }
}
