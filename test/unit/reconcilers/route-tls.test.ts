import { describe, expect, it } from 'vitest';
import type { Route, RouteTls } from '../../../api/types/route.js';
import type { Tenant } from '../../../api/types/tenant.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { planRoute, type RouteObserved } from '../../../reconcilers/route.js';
import { DEFAULT_EXPIRY_WINDOW_MS, planRouteTls, renewalTime, type CertificateRow, type SealedCertificate, type TlsInput } from '../../../reconcilers/route-tls.js';

const DAY = 86_400_000;
const now = new Date('2026-06-01T00:00:00Z');
const tenant: Tenant = { apiVersion: 'tend.dev/v1alpha1', kind: 'Tenant', metadata: { name: 'acme' }, spec: { namespaces: ['acme'], allowedHostnames: ['*.acme.example'] } };
const host = 'shop.acme.example';

function route(name: string, tls: RouteTls | undefined, created = '2026-01-01T00:00:00Z', pathPrefix?: string): Route {
  return {
    apiVersion: 'tend.dev/v1alpha1', kind: 'Route',
    metadata: { name, namespace: 'acme', uid: `u-${name}`, generation: 1, creationTimestamp: created },
    spec: { host, app: 'web', ...(pathPrefix ? { pathPrefix } : {}), ...(tls ? { tls } : {}) },
  };
}

const sealed = (notAfter: Date, fingerprint = 'f1', keyId = 'k1'): SealedCertificate => ({
  facts: { fingerprint, notBefore: new Date(notAfter.getTime() - 90 * DAY), notAfter, dnsNames: [host] },
  certificatePem: `PEM ${fingerprint}`,
  sealedKey: 'tend-seal-v1.k1.xyz',
  keyId,
});
const rowOf = (routeName: string, c: SealedCertificate, source = 'secret acme/shop-tls'): CertificateRow => ({
  host, route: `acme/${routeName}`, source, certificate: c.certificatePem, keyId: c.keyId, fingerprint: c.facts.fingerprint, notBefore: c.facts.notBefore, notAfter: c.facts.notAfter,
});
const secretTls = (certificate: TlsInput['tls'] extends infer T ? (T extends { kind: 'secret'; certificate: infer C } ? C : never) : never) =>
  ({ kind: 'secret', source: 'secret acme/shop-tls', certificate }) as const;
const issuerTls = (extra: { available?: boolean; refusal?: string; keyId?: string | undefined } = {}) =>
  ({ kind: 'issuer', source: 'issuer local', issuer: 'local', available: extra.available ?? true, ...(extra.refusal ? { refusal: extra.refusal } : {}), keyId: 'keyId' in extra ? extra.keyId : 'k1' }) as const;

function input(r: Route, extra: Partial<TlsInput> = {}): TlsInput {
  return { route: r, accepted: true, deleting: false, hostRoutes: [], tenant: 'acme', tls: undefined, row: undefined, rowsOfRoute: [], now, ...extra };
}

const backend = { address: '10.0.0.1', port: 4000, instance: 'acme.web-1' };
const seen: RouteObserved = { tenant, appExists: true, hostRoutes: [], hostTenants: [tenant], claims: [], backends: [backend], row: undefined, servedAt: [] };

describe('planRouteTls', () => {
  it('writes a checked certificate from its Secret, says CertificateReady=True and https, and writes nothing once it is in place', () => {
    const cert = sealed(new Date(now.getTime() + 60 * DAY));
    const first = planRouteTls(input(route('shop', { secretName: 'shop-tls' }), { tls: secretTls(cert) }));
    expect(first.steps).toEqual([{ op: 'upsert-certificate', host, route: 'acme/shop', source: 'secret acme/shop-tls', certificate: cert }]);
    expect(first.conditions[0]).toMatchObject({ type: 'CertificateReady', status: 'True', reason: 'Valid' });
    expect(first.conditions[1]).toMatchObject({ type: 'CertificateExpiring', status: 'False', reason: 'NotExpiring' });
    expect(first.https).toBe(true);
    expect(first.redirect).toBe(false);
    const again = planRouteTls(input(route('shop', { secretName: 'shop-tls' }), { tls: secretTls(cert), row: rowOf('shop', cert) }));
    expect(again.steps).toEqual([]);
    // Looks again the moment the 14-day window opens.
    expect(again.recheckAfterMs).toBe(60 * DAY - DEFAULT_EXPIRY_WINDOW_MS);
  });

  it('replaces the row when the Secret holds a renewed certificate, or when the certificates key changed', () => {
    const old = sealed(new Date(now.getTime() + 10 * DAY), 'old');
    const renewed = sealed(new Date(now.getTime() + 90 * DAY), 'new');
    expect(planRouteTls(input(route('shop', { secretName: 'shop-tls' }), { tls: secretTls(renewed), row: rowOf('shop', old) })).steps).toMatchObject([{ op: 'upsert-certificate', certificate: renewed }]);
    const rekeyed = sealed(old.facts.notAfter, 'old', 'k2');
    expect(planRouteTls(input(route('shop', { secretName: 'shop-tls' }), { tls: secretTls(rekeyed), row: rowOf('shop', old) })).steps).toMatchObject([{ op: 'upsert-certificate' }]);
  });

  it.each([
    ['SecretNotFound', 'secret acme/shop-tls not found'],
    ['InvalidCertificate', 'secret acme/shop-tls: tls.crt holds no PEM certificate'],
    ['KeyMismatch', 'secret acme/shop-tls: tls.key is not the private key of the certificate in tls.crt'],
    ['CertificateHostMismatch', 'secret acme/shop-tls: the certificate is for other.example, not shop.acme.example'],
  ] as const)('removes the served certificate and reports %s, Ready=False, http only: the host is never served with a wrong certificate', (reason, message) => {
    const cert = sealed(new Date(now.getTime() + 60 * DAY));
    const plan = planRouteTls(input(route('shop', { secretName: 'shop-tls', redirect: true }), { tls: secretTls({ reason, message }), row: rowOf('shop', cert) }));
    expect(plan.steps).toEqual([{ op: 'delete-certificate', host, route: 'acme/shop' }]);
    expect(plan.conditions).toEqual([{ type: 'CertificateReady', status: 'False', reason, message: `${message}: https://${host} is not served` }]);
    expect(plan.notReady).toMatchObject({ type: 'Ready', status: 'False', reason });
    expect(plan.https).toBe(false);
    expect(plan.redirect).toBe(false);
  });

  it('says CertificateExpiring=True with reason ExpiresSoon inside the window, and Expired (Ready=False) after, looking again at expiry', () => {
    const soon = sealed(new Date(now.getTime() + 3 * DAY + 3600_000));
    const plan = planRouteTls(input(route('shop', { secretName: 'shop-tls' }), { tls: secretTls(soon), row: rowOf('shop', soon) }));
    expect(plan.conditions[1]).toEqual({ type: 'CertificateExpiring', status: 'True', reason: 'ExpiresSoon', message: `the certificate of ${host} expires at ${soon.facts.notAfter.toISOString()}, in 3 days` });
    expect(plan.notReady).toBeUndefined();
    expect(plan.recheckAfterMs).toBe(3 * DAY + 3600_000);
    const expired = sealed(new Date(now.getTime() - 1000));
    const after = planRouteTls(input(route('shop', { secretName: 'shop-tls' }), { tls: secretTls(expired), row: rowOf('shop', expired) }));
    expect(after.conditions[1]).toMatchObject({ type: 'CertificateExpiring', status: 'True', reason: 'Expired' });
    expect(after.notReady).toMatchObject({ type: 'Ready', status: 'False', reason: 'CertificateExpired' });
    // A shorter window, as tend run --certificate-expiry-window sets.
    expect(planRouteTls(input(route('shop', { secretName: 'shop-tls' }), { tls: secretTls(soon), row: rowOf('shop', soon), expiryWindowMs: DAY })).conditions[1]).toMatchObject({ status: 'False', reason: 'NotExpiring' });
  });

  it('redirects plain HTTP only when asked and once the host has a certificate', () => {
    const cert = sealed(new Date(now.getTime() + 60 * DAY));
    expect(planRouteTls(input(route('shop', { secretName: 'shop-tls', redirect: true }), { tls: secretTls(cert), row: rowOf('shop', cert) })).redirect).toBe(true);
    expect(planRouteTls(input(route('shop', { issuer: 'local', redirect: true }), { tls: issuerTls() })).redirect).toBe(false);
  });

  it('issues from the issuer when there is no certificate, keeps it until two thirds of its life, then renews while serving the old one', () => {
    const r = route('shop', { issuer: 'local' });
    const first = planRouteTls(input(r, { tls: issuerTls() }));
    expect(first.steps).toEqual([{ op: 'issue-certificate', host, route: 'acme/shop', issuer: 'local', source: 'issuer local' }]);
    expect(first.conditions).toEqual([{ type: 'CertificateReady', status: 'False', reason: 'Issuing', message: `a certificate for ${host} is being issued by local` }]);
    const issued = sealed(new Date(now.getTime() + 80 * DAY));
    const row = rowOf('shop', issued, 'issuer local');
    const kept = planRouteTls(input(r, { tls: issuerTls(), row }));
    expect(kept.steps).toEqual([]);
    expect(kept.conditions[0]).toMatchObject({ status: 'True', reason: 'Issued' });
    expect(kept.recheckAfterMs).toBe(renewalTime(row) - now.getTime());
    const due = planRouteTls(input(r, { tls: issuerTls(), row, now: new Date(renewalTime(row)) }));
    expect(due.steps).toMatchObject([{ op: 'issue-certificate' }]);
    expect(due.https).toBe(true);
    // Sealed to a key the edges no longer hold: issued again.
    expect(planRouteTls(input(r, { tls: issuerTls({ keyId: 'k2' }), row })).steps).toMatchObject([{ op: 'issue-certificate' }]);
  });

  it('reports IssuerNotFound, IssuerRefused and NoCertificatesKey, and issues nothing then', () => {
    const r = route('shop', { issuer: 'local' });
    const missing = planRouteTls(input(r, { tls: issuerTls({ available: false }) }));
    expect(missing.conditions[0]).toMatchObject({ status: 'False', reason: 'IssuerNotFound' });
    const refused = planRouteTls(input(r, { tls: issuerTls({ refusal: 'the local certificate authority issues for localhost and *.localhost only (its certificate is name-constrained), not shop.acme.example' }) }));
    expect(refused.conditions[0]).toMatchObject({ status: 'False', reason: 'IssuerRefused' });
    const noKey = planRouteTls(input(r, { tls: issuerTls({ keyId: undefined }) }));
    expect(noKey.conditions[0]).toMatchObject({ status: 'False', reason: 'NoCertificatesKey' });
    for (const plan of [missing, refused, noKey]) expect(plan.steps).toEqual([]);
  });

  it('gives a host one certificate: the oldest Route with tls owns it, another with the same tls shares it, a different tls is a CertificateConflict', () => {
    const older = route('home', { secretName: 'shop-tls' }, '2026-01-01T00:00:00Z');
    const same = route('api', { secretName: 'shop-tls' }, '2026-01-02T00:00:00Z', '/api');
    const other = route('blog', { secretName: 'blog-tls' }, '2026-01-03T00:00:00Z', '/blog');
    const hostRoutes = [older, same, other].map((r) => ({ route: r, tenant }));
    const cert = sealed(new Date(now.getTime() + 60 * DAY));
    const row = rowOf('home', cert);
    const shared = planRouteTls(input(same, { hostRoutes, tls: secretTls(cert), row }));
    expect(shared.steps).toEqual([]);
    expect(shared.conditions[0]).toEqual({ type: 'CertificateReady', status: 'True', reason: 'Shared', message: 'served with the certificate of route acme/home' });
    expect(shared.https).toBe(true);
    const conflict = planRouteTls(input(other, { hostRoutes, tls: secretTls(cert), row }));
    expect(conflict.steps).toEqual([]);
    expect(conflict.conditions[0]).toMatchObject({ status: 'False', reason: 'CertificateConflict' });
    // A Route without tls on the host is still served over HTTPS, and says nothing about certificates.
    const plain = planRouteTls(input(route('docs', undefined, '2026-01-04T00:00:00Z', '/docs'), { hostRoutes, row }));
    expect(plain).toMatchObject({ steps: [], conditions: [], https: true, redirect: false });
  });

  it('removes its certificate when spec.tls goes, when it is no longer accepted, when deleted, and at a host it left', () => {
    const cert = sealed(new Date(now.getTime() + 60 * DAY));
    const row = rowOf('shop', cert);
    for (const extra of [{ route: route('shop', undefined) }, { accepted: false }, { deleting: true }]) {
      expect(planRouteTls(input(route('shop', { secretName: 'shop-tls' }), { tls: secretTls(cert), row, ...extra })).steps).toEqual([{ op: 'delete-certificate', host, route: 'acme/shop' }]);
    }
    expect(planRouteTls(input(route('shop', { secretName: 'shop-tls' }), { tls: secretTls(cert), row, rowsOfRoute: ['old.acme.example', host] })).steps).toEqual([
      { op: 'delete-certificate', host: 'old.acme.example', route: 'acme/shop' },
    ]);
  });
});

describe('planRoute with tls', () => {
  const cert = sealed(new Date(now.getTime() + 60 * DAY));

  it('writes the certificate before the routing row, says https in status.url and redirects when asked', () => {
    const plan = planRoute(route('shop', { secretName: 'shop-tls', redirect: true }), { ...seen, tls: secretTls(cert), certificate: rowOf('shop', cert) }, { now });
    expect(plan.steps).toEqual([{ op: 'upsert-routing', host, pathPrefix: '/', route: 'acme/shop', backends: [backend], suspended: false, httpsRedirect: true }]);
    expect(plan.status.url).toBe(`https://${host}/`);
    expect(findCondition(plan.status.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'Serving' });
    const fresh = planRoute(route('shop', { secretName: 'shop-tls' }), { ...seen, tls: secretTls(cert) }, { now });
    expect(fresh.steps.map((s) => s.op)).toEqual(['upsert-certificate', 'upsert-routing']);
  });

  it('says Ready=False with the certificate\'s reason, serves plain HTTP, and drops both TLS conditions when spec.tls goes', () => {
    const bad = planRoute(route('shop', { secretName: 'shop-tls' }), { ...seen, tls: secretTls({ reason: 'SecretNotFound', message: 'secret acme/shop-tls not found' }) }, { now });
    expect(findCondition(bad.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotFound', message: `secret acme/shop-tls not found: https://${host} is not served` });
    expect(bad.status.url).toBe(`http://${host}/`);
    expect(bad.steps).toEqual([{ op: 'upsert-routing', host, pathPrefix: '/', route: 'acme/shop', backends: [backend], suspended: false }]);
    const withTls = planRoute(route('shop', { secretName: 'shop-tls' }), { ...seen, tls: secretTls(cert), certificate: rowOf('shop', cert) }, { now });
    const plain = route('shop', undefined);
    plain.status = withTls.status;
    const after = planRoute(plain, { ...seen, certificate: rowOf('shop', cert), certificateHosts: [host] }, { now });
    expect(findCondition(after.status.conditions, 'CertificateReady')).toBeUndefined();
    expect(findCondition(after.status.conditions, 'CertificateExpiring')).toBeUndefined();
    expect(after.steps).toContainEqual({ op: 'delete-certificate', host, route: 'acme/shop' });
  });

  it('removes its certificate while deleting', () => {
    const deleting = { ...route('shop', { secretName: 'shop-tls' }), metadata: { ...route('shop', undefined).metadata, deletionTimestamp: '2026-06-01T00:00:00Z' } };
    const plan = planRoute(deleting, { ...seen, tls: secretTls(cert), certificate: rowOf('shop', cert), certificateHosts: [host] }, { now });
    expect(plan.steps).toEqual([{ op: 'delete-certificate', host, route: 'acme/shop' }]);
    expect(plan.release).toBe(true);
  });
});
