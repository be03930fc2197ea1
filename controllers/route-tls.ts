/**
 * The Route controller's side of TLS: the shared informer of Secrets (keys and versions, no
 * values), which Routes name which Secret in spec.tls (an index, so a renewed certificate wakes
 * exactly its Routes), reading and checking a certificate when its Secret changes, and carrying
 * out the certificate steps of a plan (write, remove, issue). A private key is in clear only
 * between reading it and sealing it to the published certificates key, in this file.
 */
import type { Route } from '../api/types/route.js';
import { certificateKeyContext, currentCertificatesPublicKey } from '../certificates/certificates-key.js';
import type { CertificateIssuer } from '../certificates/issuer.js';
import { readCertificate } from '../certificates/read-certificate.js';
import { type Informer, keyOf, keyOfObject, type ReconcileContext, type Source, watches } from '../framework/index.js';
import { noCertificatesKey, type CertificateProblem, type CertificateRow, type ObservedTls, type SealedCertificate, type TlsStep } from '../reconcilers/route-tls.js';
import { seal } from '../secrets/seal.js';
import type { SecretObject } from '../secrets/secret-object.js';
import { certificatesOfRoute, deleteCertificate, selectCertificate, upsertCertificate } from './certificate-queries.js';
import type { PlatformDeps } from './platform-deps.js';

/** Index of Routes by the Secret their spec.tls names (`namespace/name`). */
const TLS_SECRET = 'tlsSecret';

/** What the Route controller asks about TLS. */
export interface RouteTls {
  /** Wakes the Routes whose spec.tls names a Secret when it appears, changes or goes. */
  readonly source: Source;
  /** The TLS facts of one Route for its planner; `stale` when its Secret changed since the cache saw it. */
  observe(route: Route): Promise<Observed | 'stale'>;
  /** Carries out one certificate step of a plan. */
  execute(ctx: ReconcileContext, step: TlsStep): Promise<void>;
}

/** The planner's TLS inputs. */
export interface Observed {
  readonly tls: ObservedTls | undefined;
  readonly certificate: CertificateRow | undefined;
  readonly certificateHosts: readonly string[];
}

/** The Route controller's TLS, over the shared Routes informer (which gets the TLS_SECRET index). */
export function routeTls(deps: PlatformDeps & { readonly issuers: readonly CertificateIssuer[] }, routes: Informer<Route>): RouteTls {
  routes.cache.addIndexer(TLS_SECRET, (r: Route) => (r.spec?.tls?.secretName ? [`${r.metadata.namespace}/${r.spec.tls.secretName}`] : []));
  const secrets: Informer<SecretObject> = deps.manager.informer(deps.secrets.client);
  const issuers = new Map(deps.issuers.map((i) => [i.name, i]));
  // A checked and sealed certificate per Secret version, host and key: a Route reconciles on every
  // change of its instances' health, and reading, checking and sealing each time would be waste.
  // Holds ciphertext and facts only.
  const checked = new Map<string, SealedCertificate | CertificateProblem>();
  const { store } = deps;

  async function fromSecret(route: Route, host: string, name: string, key: { keyId: string; publicKey: string } | undefined): Promise<SealedCertificate | CertificateProblem | 'stale'> {
    const namespace = route.metadata.namespace ?? '';
    const what = `secret ${namespace}/${name}`;
    const secret = secrets.cache.get(keyOf(namespace, name));
    if (!secret) return { reason: 'SecretNotFound', message: `${what} not found` };
    if (!key) return noCertificatesKey();
    const memo = `${secret.metadata.uid}/${secret.metadata.resourceVersion}/${host}/${key.keyId}`;
    const known = checked.get(memo);
    if (known) return known;
    const read = await deps.secrets.bytes(secret, ['tls.crt', 'tls.key']);
    if ('stale' in read) return 'stale';
    let result: SealedCertificate | CertificateProblem;
    if ('problem' in read) result = { reason: 'InvalidCertificate', message: `${what}: ${read.problem}` };
    else {
      const [crt, pem] = [read.values.get('tls.crt'), read.values.get('tls.key')];
      if (!crt || !pem) result = { reason: 'InvalidCertificate', message: `${what} has no ${!crt ? 'tls.crt' : 'tls.key'} (a kubernetes.io/tls Secret holds both)` };
      else {
        const found = readCertificate(crt, pem, host, what);
        pem.fill(0);
        result = 'reason' in found ? found : { facts: found.facts, certificatePem: found.certificatePem, sealedKey: seal(found.privateKeyPem, key.publicKey, certificateKeyContext(host)), keyId: key.keyId };
      }
    }
    if (checked.size > 10_000) checked.clear();
    checked.set(memo, result);
    return result;
  }

  return {
    source: watches(secrets, (s) => routes.cache.byIndex(TLS_SECRET, keyOfObject(s)).map(keyOfObject)),

    async observe(route) {
      const host = route.spec!.host.toLowerCase();
      const me = `${route.metadata.namespace}/${route.metadata.name}`;
      const [[row], hosts, key] = await Promise.all([
        store.query<CertificateRow>(selectCertificate, [host]),
        store.query<{ host: string }>(certificatesOfRoute, [me]),
        route.spec?.tls ? currentCertificatesPublicKey(store) : Promise.resolve(undefined),
      ]);
      const spec = route.spec?.tls;
      let tls: ObservedTls | undefined;
      if (spec?.secretName) {
        const certificate = await fromSecret(route, host, spec.secretName, key);
        if (certificate === 'stale') return 'stale';
        tls = { kind: 'secret', source: `secret ${route.metadata.namespace}/${spec.secretName}`, certificate };
      } else if (spec?.issuer) {
        const issuer = issuers.get(spec.issuer);
        const refusal = issuer?.refuses(host);
        tls = { kind: 'issuer', source: `issuer ${spec.issuer}`, issuer: spec.issuer, available: issuer !== undefined, ...(refusal ? { refusal } : {}), keyId: key?.keyId };
      }
      return { tls, certificate: row, certificateHosts: hosts.map((h) => h.host) };
    },

    async execute(ctx, step) {
      const fence = String(ctx.fence);
      if (step.op === 'delete-certificate') {
        await store.query(deleteCertificate, [step.host, step.route, fence]);
        ctx.log.info({ host: step.host }, 'certificate removed');
        return;
      }
      let certificate: SealedCertificate;
      if (step.op === 'issue-certificate') {
        const issuer = issuers.get(step.issuer);
        const key = await currentCertificatesPublicKey(store);
        if (!issuer || !key) throw new Error(`cannot issue for ${step.host}: ${!issuer ? `no issuer ${step.issuer}` : 'no certificates key'}`);
        const issued = await issuer.issue(step.host, ctx.now());
        const found = readCertificate(issued.certificatePem, issued.privateKeyPem, step.host, `issuer ${step.issuer}`);
        if ('reason' in found) throw new Error(`issuer ${step.issuer} issued a certificate that does not check: ${found.message}`);
        certificate = { facts: found.facts, certificatePem: found.certificatePem, sealedKey: seal(found.privateKeyPem, key.publicKey, certificateKeyContext(step.host)), keyId: key.keyId };
      } else {
        certificate = step.certificate;
      }
      const { facts } = certificate;
      await store.query(upsertCertificate, [
        step.host, step.route, step.source, certificate.certificatePem, certificate.sealedKey, certificate.keyId,
        facts.fingerprint, facts.notBefore.toISOString(), facts.notAfter.toISOString(), fence,
      ]);
      ctx.log.info({ host: step.host, source: step.source, fingerprint: facts.fingerprint, notAfter: facts.notAfter.toISOString(), keyId: certificate.keyId }, step.op === 'issue-certificate' ? 'certificate issued' : 'certificate updated');
    },
  };
}
