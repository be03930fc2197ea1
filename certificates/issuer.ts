/**
 * Certificate issuers: what makes a certificate for a Route whose spec.tls names an issuer instead
 * of a Secret. Small on purpose — a name and one call — so that an ACME issuer can come later
 * beside the local certificate authority (`local-ca.ts`). The Route controller decides when to
 * issue (none yet, sealed to an old key, two thirds of the lifetime gone); an issuer only issues.
 */

/** A certificate and the private key it was made for, both PEM; the key is sealed at once by the caller. */
export interface IssuedCertificate {
  /** The leaf first, then any intermediates. */
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** Makes certificates for hosts. */
export interface CertificateIssuer {
  /** What spec.tls.issuer names it by (a DNS label: `local`). */
  readonly name: string;
  /** Why this issuer will not issue for `host` (a message fit for a Route condition); undefined when it will. */
  refuses(host: string): string | undefined;
  /** A new certificate with a fresh key for `host`, valid from about `now`. */
  issue(host: string, now: Date): Promise<IssuedCertificate>;
}

/** Thrown by an issuer that will not issue for a host (outside what it may vouch for). */
export class IssuerError extends Error {
  override readonly name = 'IssuerError';
}
