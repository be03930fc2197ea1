/**
 * A Route's TLS, planned: which certificate its host is served with, whether to write, remove or
 * issue one, its conditions (CertificateReady, CertificateExpiring), whether plain HTTP is
 * redirected, and when to look again (the expiry window opening, a renewal falling due). Pure:
 * the controller reads and checks the certificate (certificates/read-certificate.ts) and seals its
 * key before planning, so no key in clear reaches a plan.
 *
 * A host has one certificate (SNI picks by host, not by path). It comes from the oldest Route of
 * the host's tenant whose spec.tls is set; the tenant's other Routes on the host are served with
 * it and report whether their own spec.tls agrees. A host whose certificate is missing, does not
 * parse, does not match its key or does not cover the host has no certificate row at all: its
 * handshakes fail, it is never served with another host's certificate.
 */
import type { Route } from '../api/types/route.js';
import type { ConditionUpdate } from '../framework/index.js';
import type { HostRoute } from './host-claims.js';

/** How long before expiry CertificateExpiring turns True. @default 14 days */
export const DEFAULT_EXPIRY_WINDOW_MS = 14 * 24 * 3600 * 1000;

/** An issued certificate is renewed once this share of its lifetime has passed (cert-manager's default, 2/3). */
export const RENEW_AT_SHARE = 2 / 3;

/** What a checked certificate says about itself. */
export interface CertificateFacts {
  /** SHA-256 of the leaf's DER, lower-case hex. */
  readonly fingerprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The leaf's subjectAltName DNS names, for messages. */
  readonly dnsNames: readonly string[];
}

/** Why a Route's certificate cannot be served. */
// One line: test/unit/argocd/health-coverage.test.ts reads the reasons from here.
export type CertificateProblemReason = 'SecretNotFound' | 'InvalidCertificate' | 'KeyMismatch' | 'CertificateHostMismatch' | 'IssuerNotFound' | 'IssuerRefused' | 'NoCertificatesKey';

/** A certificate that cannot be served, and why (the message names no key material). */
export interface CertificateProblem {
  readonly reason: CertificateProblemReason;
  readonly message: string;
}

/** A certificate ready to be written: checked, its key already sealed. */
export interface SealedCertificate {
  readonly facts: CertificateFacts;
  readonly certificatePem: string;
  readonly sealedKey: string;
  readonly keyId: string;
}

/** What the controller found for the Route's own spec.tls. */
export type ObservedTls =
  | { readonly kind: 'secret'; readonly source: string; readonly certificate: SealedCertificate | CertificateProblem }
  | {
      readonly kind: 'issuer';
      readonly source: string;
      readonly issuer: string;
      readonly available: boolean;
      /** Why the issuer will not issue for the host (outside its names). */
      readonly refusal?: string;
      readonly keyId: string | undefined;
    };

/** platform.certificates' row for a host, as the planner compares it. */
export interface CertificateRow {
  readonly host: string;
  readonly route: string;
  readonly source: string;
  readonly certificate: string;
  readonly keyId: string;
  readonly fingerprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export type TlsStep =
  | {
      readonly op: 'upsert-certificate';
      readonly host: string;
      readonly route: string;
      readonly source: string;
      readonly certificate: SealedCertificate;
    }
  | { readonly op: 'delete-certificate'; readonly host: string; readonly route: string }
  | { readonly op: 'issue-certificate'; readonly host: string; readonly route: string; readonly issuer: string; readonly source: string };

export interface TlsInput {
  readonly route: Route;
  /** Whether the Route is served at its host at all (Accepted=True). */
  readonly accepted: boolean;
  readonly deleting: boolean;
  /** Every Route on the host with its namespace's tenant (this one included or not). */
  readonly hostRoutes: readonly HostRoute[];
  readonly tenant: string | undefined;
  /** The Route's own spec.tls as found; absent without spec.tls. */
  readonly tls: ObservedTls | undefined;
  /** The certificate row of the Route's host, whoever wrote it. */
  readonly row: CertificateRow | undefined;
  /** Hosts whose certificate rows this Route wrote (more than its host right after a host change). */
  readonly rowsOfRoute: readonly string[];
  readonly now: Date;
  /** @default DEFAULT_EXPIRY_WINDOW_MS */
  readonly expiryWindowMs?: number;
}

export interface TlsPlan {
  readonly steps: readonly TlsStep[];
  /** CertificateReady and CertificateExpiring (empty without spec.tls: then both are removed). */
  readonly conditions: readonly ConditionUpdate[];
  /** Ready=False because of the certificate, when that is the Route's problem. */
  readonly notReady: ConditionUpdate | undefined;
  /** Whether the host has a certificate once the steps are done: status.url says https. */
  readonly https: boolean;
  /** Whether plain HTTP requests for the Route get 308 to https. */
  readonly redirect: boolean;
  /** When the conditions or the certificate change by time alone; absent: never. */
  readonly recheckAfterMs: number | undefined;
}

/** Plans the TLS of one Route. */
export function planRouteTls(input: TlsInput): TlsPlan {
  const { route, now } = input;
  const me = nameOf(route);
  const host = route.spec!.host.toLowerCase();
  const window = input.expiryWindowMs ?? DEFAULT_EXPIRY_WINDOW_MS;
  const steps: TlsStep[] = [];
  for (const other of input.rowsOfRoute) if (other !== host) steps.push({ op: 'delete-certificate', host: other, route: me });
  const ownRow = input.row?.route === me ? input.row : undefined;
  const spec = route.spec!.tls;
  const owner = input.accepted && !input.deleting && spec ? tlsOwner(route, input.hostRoutes, input.tenant) : undefined;
  const removeOwn = () => ownRow && steps.push({ op: 'delete-certificate', host, route: me });
  const none = (https: boolean, notReady?: ConditionUpdate): TlsPlan => ({ steps, conditions: [], notReady, https, redirect: false, recheckAfterMs: undefined });

  if (!spec || !input.accepted || input.deleting || !input.tls) {
    removeOwn();
    // Without spec.tls the Route may still share its tenant's certificate for the host.
    return none(!input.deleting && input.accepted && input.row !== undefined && !ownRow);
  }

  let ready: ConditionUpdate;
  let served: CertificateRow | SealedCertificate | undefined;
  let recheck: number | undefined;
  if (owner && nameOf(owner) !== me) {
    removeOwn();
    const theirs = owner.spec!.tls!;
    const same = theirs.secretName === spec.secretName && theirs.issuer === spec.issuer;
    served = input.row && input.row.route === nameOf(owner) ? input.row : undefined;
    ready = !same
      ? { type: 'CertificateReady', status: 'False', reason: 'CertificateConflict', message: `host ${host} has one certificate, from the spec.tls of route ${nameOf(owner)} (created first); this Route's spec.tls is not used` }
      : served
        ? { type: 'CertificateReady', status: 'True', reason: 'Shared', message: `served with the certificate of route ${nameOf(owner)}` }
        : { type: 'CertificateReady', status: 'False', reason: 'CertificatePending', message: `host ${host}'s certificate comes from route ${nameOf(owner)}, which has none served yet` };
  } else if (input.tls.kind === 'secret') {
    const found = input.tls.certificate;
    if ('reason' in found) {
      // Strict: a certificate that cannot be checked is not served, not even the one before it.
      removeOwn();
      ready = { type: 'CertificateReady', status: 'False', reason: found.reason, message: `${found.message}: https://${host} is not served` };
    } else {
      served = found;
      const same = ownRow && ownRow.source === input.tls.source && ownRow.certificate === found.certificatePem && ownRow.keyId === found.keyId;
      if (!same) steps.push({ op: 'upsert-certificate', host, route: me, source: input.tls.source, certificate: found });
      ready = { type: 'CertificateReady', status: 'True', reason: 'Valid', message: `${input.tls.source}: for ${found.facts.dnsNames.join(', ') || host}, valid until ${found.facts.notAfter.toISOString()}` };
    }
  } else {
    const tls = input.tls;
    if (!tls.available) {
      removeOwn();
      ready = { type: 'CertificateReady', status: 'False', reason: 'IssuerNotFound', message: `this control plane has no issuer "${tls.issuer}" (tend up has local; tend run --local-ca-dir DIR adds it): https://${host} is not served` };
    } else if (tls.refusal) {
      removeOwn();
      ready = { type: 'CertificateReady', status: 'False', reason: 'IssuerRefused', message: `${tls.refusal}: https://${host} is not served` };
    } else if (!tls.keyId) {
      removeOwn();
      const problem = noCertificatesKey();
      ready = { type: 'CertificateReady', status: 'False', reason: problem.reason, message: `${problem.message}: https://${host} is not served` };
    } else {
      const usable = ownRow && ownRow.source === tls.source && ownRow.keyId === tls.keyId ? ownRow : undefined;
      const renewAt = usable ? renewalTime(usable) : undefined;
      if (!usable || now.getTime() >= renewAt!) steps.push({ op: 'issue-certificate', host, route: me, issuer: tls.issuer, source: tls.source });
      else recheck = renewAt! - now.getTime();
      // A renewal keeps serving the certificate it replaces until the new one is written.
      served = usable && usable.notAfter.getTime() > now.getTime() ? usable : undefined;
      ready = served
        ? { type: 'CertificateReady', status: 'True', reason: 'Issued', message: `issued by ${tls.issuer}, valid until ${usable!.notAfter.toISOString()}` }
        : { type: 'CertificateReady', status: 'False', reason: 'Issuing', message: `a certificate for ${host} is being issued by ${tls.issuer}` };
    }
  }

  const conditions: ConditionUpdate[] = [ready];
  let notReady: ConditionUpdate | undefined = ready.status === 'True' ? undefined : { ...ready, type: 'Ready' };
  if (served) {
    const notAfter = 'facts' in served ? served.facts.notAfter : served.notAfter;
    const left = notAfter.getTime() - now.getTime();
    if (left <= 0) {
      conditions.push({ type: 'CertificateExpiring', status: 'True', reason: 'Expired', message: `the certificate of ${host} expired at ${notAfter.toISOString()}` });
      notReady ??= { type: 'Ready', status: 'False', reason: 'CertificateExpired', message: `the certificate of ${host} expired at ${notAfter.toISOString()}: clients refuse it` };
    } else if (left <= window) {
      const days = Math.floor(left / 86_400_000);
      conditions.push({ type: 'CertificateExpiring', status: 'True', reason: 'ExpiresSoon', message: `the certificate of ${host} expires at ${notAfter.toISOString()}, in ${days === 0 ? 'less than a day' : `${days} day${days === 1 ? '' : 's'}`}` });
      recheck = min(recheck, left);
    } else {
      conditions.push({ type: 'CertificateExpiring', status: 'False', reason: 'NotExpiring', message: `valid until ${notAfter.toISOString()}` });
      recheck = min(recheck, left - window);
    }
  }
  const https = served !== undefined;
  return { steps, conditions, notReady, https, redirect: https && spec.redirect === true, recheckAfterMs: recheck };
}

/** The Route whose spec.tls gives the host its certificate: the oldest of the tenant's Routes on the host that have one. */
export function tlsOwner(route: Route, hostRoutes: readonly HostRoute[], tenant: string | undefined): Route | undefined {
  const me = nameOf(route);
  const candidates = [route, ...hostRoutes.filter((r) => nameOf(r.route) !== me && r.tenant?.metadata.name === tenant).map((r) => r.route)].filter((r) => r.spec?.tls);
  return candidates.sort((a, b) => {
    const [ta, tb] = [a.metadata.creationTimestamp ?? '', b.metadata.creationTimestamp ?? ''];
    return ta < tb ? -1 : ta > tb ? 1 : nameOf(a) < nameOf(b) ? -1 : 1;
  })[0];
}

/** When an issued certificate is renewed: RENEW_AT_SHARE of the way through its lifetime. */
export function renewalTime(row: Pick<CertificateRow, 'notBefore' | 'notAfter'>): number {
  return row.notBefore.getTime() + (row.notAfter.getTime() - row.notBefore.getTime()) * RENEW_AT_SHARE;
}

/** The problem of every Route with spec.tls while no certificates key is published to seal private keys to. */
export function noCertificatesKey(): CertificateProblem {
  return {
    reason: 'NoCertificatesKey',
    message: 'no certificates key is published, so no private key can be stored for the edges (tend edge keygen FILE makes one; tend up does at start)',
  };
}

function min(a: number | undefined, b: number): number {
  return a === undefined ? b : Math.min(a, b);
}

function nameOf(route: Route): string {
  return `${route.metadata.namespace}/${route.metadata.name}`;
}
