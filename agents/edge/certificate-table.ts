/**
 * The edge's SNI table: an immutable map from host to the TLS context that serves it, built from
 * `platform.certificates` at one version and swapped in one assignment (as the routing table is),
 * so a handshake sees the old certificates or the new ones. Connections already open keep the
 * context they were made with: swapping drops none of them.
 *
 * Each row's private key is opened with the edge's certificates key (sealed for its host, so a
 * key copied to another row does not open) when the row is new or changed; unchanged rows keep
 * the context built before. A row that cannot be used (sealed to another key, changed on the
 * way, refused by TLS) is left out and listed in `problems`: its host gets no handshake, never
 * another host's certificate. Host names match exactly, case-insensitively, without a trailing dot.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import { certificateKeyContext } from '../../certificates/certificates-key.js';
import { open, sealingKeyId, type SealingKey } from '../../secrets/seal.js';

/** A row as PostgreSQL gives it (the loader's query), not yet checked. */
export interface CertificateRow {
  readonly host: unknown;
  readonly route: unknown;
  readonly certificate: unknown;
  readonly sealedKey: unknown;
  readonly keyId: unknown;
  readonly fingerprint: unknown;
  readonly notAfter: unknown;
}

/** One host served over TLS. */
export interface CertificateEntry {
  readonly host: string;
  readonly route: string;
  readonly fingerprint: string;
  readonly notAfter: Date;
  readonly context: SecureContext;
  /** What the row held when the context was built; an equal row reuses it. */
  readonly built: string;
}

/** The oldest TLS version the edge speaks: 1.0 and 1.1 are deprecated (RFC 8996). */
const MIN_VERSION = 'TLSv1.2';

/** An immutable SNI table at one `platform.certificates_version`. */
export class CertificateTable {
  private constructor(
    /** -1 before the first load. */
    readonly version: bigint,
    private readonly byHost: ReadonlyMap<string, CertificateEntry>,
    /** Rows left out, with the reason (never any key material). */
    readonly problems: readonly string[],
  ) {
    Object.freeze(this);
  }

  /** Before anything was loaded: no host has a certificate. */
  static empty(): CertificateTable {
    return new CertificateTable(-1n, new Map(), []);
  }

  /**
   * Builds the table from one read's rows, opening keys with `key`; contexts of rows equal to
   * those of `previous` are reused (no key is opened again for a table that hardly changed).
   */
  static build(version: bigint, rows: readonly CertificateRow[], key: SealingKey | undefined, previous: CertificateTable): CertificateTable {
    const byHost = new Map<string, CertificateEntry>();
    const problems: string[] = [];
    const ownKeyId = key ? sealingKeyId(key.publicKey) : undefined;
    for (const row of rows) {
      const entry = buildEntry(row, key, ownKeyId, previous);
      if (typeof entry === 'string') problems.push(entry);
      else byHost.set(entry.host, entry);
    }
    return new CertificateTable(version, byHost, Object.freeze(problems));
  }

  /** The context for a ClientHello's server name, if the host has a certificate. */
  context(serverName: string): SecureContext | undefined {
    return this.byHost.get(normaliseServerName(serverName))?.context;
  }

  /** The entry of a host (tests, metrics). */
  entry(host: string): CertificateEntry | undefined {
    return this.byHost.get(normaliseServerName(host));
  }

  /** Every host served, in no particular order. */
  entries(): IterableIterator<CertificateEntry> {
    return this.byHost.values();
  }

  get size(): number {
    return this.byHost.size;
  }
}

/** A server name as the table compares it: lower case, no trailing dot. */
export function normaliseServerName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function buildEntry(row: CertificateRow, key: SealingKey | undefined, ownKeyId: string | undefined, previous: CertificateTable): CertificateEntry | string {
  const route = typeof row.route === 'string' ? row.route : '(unnamed)';
  if (typeof row.host !== 'string' || row.host === '') return `certificate of route ${route}: no host; row skipped`;
  const host = normaliseServerName(row.host);
  const bad = (why: string) => `certificate of ${host} (route ${route}): ${why}; ${host} gets no TLS handshake`;
  const { certificate, sealedKey, keyId, fingerprint } = row;
  if (typeof certificate !== 'string' || typeof sealedKey !== 'string' || typeof keyId !== 'string' || typeof fingerprint !== 'string') return bad('a column is missing');
  const notAfter = new Date(row.notAfter as string);
  if (Number.isNaN(notAfter.getTime())) return bad('not_after is not a time');
  const built = `${fingerprint}\n${sealedKey}\n${certificate}`;
  const known = previous.entry(host);
  if (known && known.built === built && known.route === route) return known;
  if (!key) return bad('this edge has no certificates key (tend edge --certificates-key-file)');
  if (keyId !== ownKeyId) return bad(`its key is sealed to certificates key ${keyId}, this edge holds ${ownKeyId}`);
  let privateKey: Buffer;
  try {
    privateKey = open(sealedKey, key, certificateKeyContext(host));
  } catch (err) {
    return bad((err as Error).message);
  }
  try {
    const context = createSecureContext({ cert: certificate, key: privateKey, minVersion: MIN_VERSION });
    return Object.freeze({ host, route, fingerprint, notAfter, context, built });
  } catch (err) {
    return bad(`TLS refuses it: ${(err as Error).message}`);
  } finally {
    privateKey.fill(0);
  }
}
