/**
 * Reading a certificate and its private key as a Route's TLS Secret holds them (`tls.crt`,
 * `tls.key`, PEM) and checking them the way a client and the edge will: the chain parses and is in
 * order, the key is the leaf's, the leaf covers the host (SAN, wildcards as RFC 6125 says), and
 * node:tls accepts the pair. What fails is a problem with a reason the Route's conditions carry;
 * nothing here ever puts key material in a message.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { CertificateFacts, CertificateProblem } from '../reconcilers/route-tls.js';

/** A certificate that passed every check: its facts, the chain as PEM, and the key as PKCS#8 PEM. */
export interface CheckedCertificate {
  readonly facts: CertificateFacts;
  /** The chain, normalised: each certificate re-encoded, leaf first, one newline between. */
  readonly certificatePem: string;
  /** The private key as PKCS#8 PEM, to be sealed at once and dropped. */
  readonly privateKeyPem: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Checks `certificate` (a PEM chain) and `privateKey` (PEM) for `host`; `what` names them in messages ("secret ns/name"). */
export function readCertificate(certificate: Buffer | string, privateKey: Buffer | string, host: string, what: string): CheckedCertificate | CertificateProblem {
  const invalid = (message: string): CertificateProblem => ({ reason: 'InvalidCertificate', message: `${what}: ${message}` });
  const blocks = certificate.toString('utf8').match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) return invalid('tls.crt holds no PEM certificate');
  let chain: X509Certificate[];
  try {
    chain = blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    return invalid(`tls.crt does not parse: ${(err as Error).message}`);
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!)) return invalid(`tls.crt certificate ${i + 2} did not issue certificate ${i + 1}: the chain must go from the leaf up`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: privateKey.toString('utf8'), format: 'pem' });
  } catch (err) {
    // Node's message says what is wrong with the encoding (or that a passphrase is needed), never the key.
    return invalid(`tls.key is no usable PEM private key (${(err as Error).message}); an encrypted key must be decrypted first`);
  }
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) return { reason: 'KeyMismatch', message: `${what}: tls.key is not the private key of the certificate in tls.crt` };
  const names = dnsNames(leaf);
  if (leaf.checkHost(host, { subject: 'default' }) === undefined) {
    return { reason: 'CertificateHostMismatch', message: `${what}: the certificate is for ${names.length ? names.join(', ') : `"${leaf.subject.replace(/\n/g, ', ')}"`}, not ${host}` };
  }
  const certificatePem = chain.map((c) => c.toString().trim()).join('\n') + '\n';
  const privateKeyPem = key.export({ format: 'pem', type: 'pkcs8' }).toString();
  try {
    createSecureContext({ cert: certificatePem, key: privateKeyPem });
  } catch (err) {
    return invalid(`TLS does not accept the pair: ${(err as Error).message}`);
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return invalid('the certificate\'s validity dates do not parse');
  return {
    facts: { fingerprint: leaf.fingerprint256.replace(/:/g, '').toLowerCase(), notBefore, notAfter, dnsNames: names },
    certificatePem,
    privateKeyPem,
  };
}

/** The DNS names of a certificate's subjectAltName. */
function dnsNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4));
}
