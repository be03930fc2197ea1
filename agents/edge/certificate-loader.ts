/**
 * Keeps the edge's SNI table current from PostgreSQL, the way the routing loader keeps its table:
 * the whole of `platform.certificates` at start, again on every `NOTIFY tend_certificates`, after
 * every LISTEN reconnect, and whenever a periodic check of `platform.certificates_version` finds it
 * moved. A new or renewed certificate is in force within milliseconds of its commit (the test asks
 * for under a second on every edge). Loads never overlap and a burst of notifications coalesces.
 * A failed read keeps the table in force. With a snapshot (`certificate-snapshot.ts`), every new
 * version read is saved, and an edge that cannot read PostgreSQL when it starts serves the saved
 * certificates until it can.
 */
import type { Logger } from 'pino';
import { backoffDelay, type Enqueuer, type Key, keyOf, postgresSource, type Queryable, sleep } from '../../framework/index.js';
import type { SealingKey } from '../../secrets/seal.js';
import type { CertificateSnapshot } from './certificate-snapshot.js';
import { CertificateTable, type CertificateRow } from './certificate-table.js';
import { certificatesVersion, loadCertificates } from './edge-queries.js';

/** The channel the certificates trigger notifies (migrations/000024_platform_certificates.sql). */
export const CERTIFICATES_CHANNEL = 'tend_certificates';

export interface CertificateLoaderOptions {
  readonly store: Queryable;
  /** A direct PostgreSQL URL for LISTEN. */
  readonly listenUrl: string;
  /** The certificates key: opens the rows' private keys. Absent: no host is served over TLS (each row says so). */
  readonly key: SealingKey | undefined;
  readonly logger: Logger;
  /** How often the version is compared with the table served. @default 5_000 */
  readonly checkMs?: number;
  /** Where the last certificates read are saved, and read from when PostgreSQL cannot be reached at start. @default none */
  readonly snapshot?: CertificateSnapshot;
  /** Called after each new table is in force (metrics). */
  readonly onTable?: (table: CertificateTable) => void;
  /** Called after each failed read (metrics). */
  readonly onReadFailure?: () => void;
}

const RELOAD: Key = keyOf(undefined, 'certificates');

/** The SNI table being served, kept current while `run` runs. */
export class CertificateLoader {
  private table = CertificateTable.empty();
  private readonly log: Logger;
  private readonly checkMs: number;
  private resolveLoaded!: () => void;
  private readonly firstLoad = new Promise<void>((resolve) => (this.resolveLoaded = resolve));
  private resolveSettled!: () => void;
  private readonly firstSettled = new Promise<void>((resolve) => (this.resolveSettled = resolve));
  private savedVersion: bigint | undefined;

  constructor(private readonly options: CertificateLoaderOptions) {
    this.checkMs = options.checkMs ?? 5_000;
    this.log = options.logger.child({ component: 'certificate-loader' });
  }

  /** The table in force now. */
  get current(): CertificateTable {
    return this.table;
  }

  /** Resolves once the first table is in force. */
  loaded(): Promise<void> {
    return this.firstLoad;
  }

  /** Resolves once a table is in force, or PostgreSQL could not be read and there is no snapshot to serve. */
  settled(): Promise<void> {
    return this.firstSettled;
  }

  /** Loads and keeps loading until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let wanted = true;
    let checkWanted = false;
    let wake: () => void = () => {};
    const want = () => {
      wanted = true;
      wake();
    };
    signal.addEventListener('abort', () => wake(), { once: true });
    const notifications: Enqueuer = { add: async () => want(), addAfter: async () => want(), addRateLimited: async () => want() };
    postgresSource({
      name: 'edge-certificates',
      connectionString: this.options.listenUrl,
      channel: CERTIFICATES_CHANNEL,
      map: (payload) => (isNewer(payload, this.table.version) ? [RELOAD] : []),
      resync: async () => {
        checkWanted = true;
        wake();
        return [];
      },
      logger: this.log,
    }).start(signal, notifications);

    let nextCheck = Date.now() + this.checkMs;
    let snapshotTried = false;
    for (let failures = 0; !signal.aborted; ) {
      try {
        if (wanted) {
          wanted = false;
          await this.reload();
          nextCheck = Date.now() + this.checkMs;
        } else if (checkWanted || Date.now() >= nextCheck) {
          checkWanted = false;
          nextCheck = Date.now() + this.checkMs;
          const [row] = await this.options.store.query<{ version: string }>(certificatesVersion);
          if (row && BigInt(row.version) !== this.table.version) await this.reload();
        }
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        wanted = true;
        this.options.onReadFailure?.();
        const delayMs = backoffDelay(failures, { baseDelayMs: 100, maxDelayMs: this.checkMs });
        this.log.warn({ err: (err as Error).message, delayMs, version: String(this.table.version) }, 'reading the certificates failed; serving those in force and retrying');
        if (!snapshotTried && this.table.version < 0n) {
          snapshotTried = true;
          await this.adoptSnapshot();
          this.resolveSettled();
        }
        await sleep(delayMs, signal);
        continue;
      }
      if (wanted || checkWanted) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, nextCheck - Date.now()));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (signal.aborted) wake();
      });
      wake = () => {};
    }
  }

  private async reload(): Promise<void> {
    const [row] = await this.options.store.query<{ version: string; certificates: CertificateRow[] }>(loadCertificates);
    if (!row) throw new Error('platform.certificates_version has no row; are the platform migrations applied?');
    const previous = this.table;
    const table = CertificateTable.build(BigInt(row.version), row.certificates, this.options.key, previous);
    this.table = table;
    if (table.problems.join('\n') !== previous.problems.join('\n')) {
      for (const problem of table.problems) this.log.warn({ version: row.version }, problem);
    }
    this.log[table.version === previous.version ? 'debug' : 'info']({ version: row.version, previous: String(previous.version), hosts: table.size }, 'certificates loaded');
    this.inForce();
    const snapshot = this.options.snapshot;
    if (snapshot && this.savedVersion !== table.version) {
      try {
        await snapshot.write(table.version, row.certificates);
        this.savedVersion = table.version;
      } catch (err) {
        // Serving does not depend on the disk; the next read tries again.
        this.log.warn({ err: (err as Error).message, file: snapshot.path }, 'writing the certificates snapshot failed; an edge restarted while PostgreSQL is down would serve older ones');
      }
    }
  }

  private inForce(): void {
    this.resolveLoaded();
    this.resolveSettled();
    this.options.onTable?.(this.table);
  }

  /** PostgreSQL cannot be read and no certificates are served yet: serve the snapshot's, if there is one. */
  private async adoptSnapshot(): Promise<void> {
    const snapshot = this.options.snapshot;
    if (!snapshot) return;
    const found = await snapshot.read();
    if (found.kind !== 'table') {
      this.log.warn({ file: snapshot.path, ...(found.kind === 'unusable' ? { reason: found.reason } : {}) }, 'no usable certificates snapshot; HTTPS waits for PostgreSQL');
      return;
    }
    // A read that succeeded meanwhile wins.
    if (this.table.version >= 0n) return;
    this.table = CertificateTable.build(found.version, found.certificates, this.options.key, this.table);
    this.savedVersion = found.version;
    this.log.warn({ file: snapshot.path, version: String(found.version), savedAt: found.savedAt.toISOString(), hosts: this.table.size }, 'PostgreSQL cannot be read: serving the certificates snapshot until it can');
    this.inForce();
  }
}

function isNewer(payload: string, served: bigint): boolean {
  try {
    return BigInt(payload) > served;
  } catch {
    return true;
  }
}
