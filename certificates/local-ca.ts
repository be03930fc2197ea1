/**
 * The local certificate authority (`issuer: local`): what lets `tend up` serve
 * https://hello.localhost with a certificate a browser or curl accepts once the CA is trusted.
 * Kept in a folder: `ca.crt` (public, what to trust) and `ca.key` (0600, created exclusively so
 * two starts never make two CAs, refused when others may read it).
 *
 * Trusting a CA lets it vouch for any name, so this one is name-constrained (RFC 5280 §4.2.1.10,
 * critical): it may sign only the DNS suffixes it was made for (`localhost` by default, which
 * covers every *.localhost), and refuses to issue for other hosts. Certificates and keys are made
 * with node-forge (RSA 2048, SHA-256; the keys themselves by node:crypto); leaves live 90 days
 * and are renewed by the Route controller after 60.
 */
import { X509Certificate, createPrivateKey, generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { IssuerError, type CertificateIssuer, type IssuedCertificate } from './issuer.js';

const generate = promisify(generateKeyPair);
const DAY_MS = 86_400_000;

export interface LocalCaOptions {
  /** DNS suffixes the CA may sign (a name equal to one, or under it). @default ['localhost'] */
  readonly permitted?: readonly string[];
  /** Lifetime of an issued certificate. @default 90 */
  readonly leafDays?: number;
  /** The issuer's name in spec.tls.issuer. @default 'local' */
  readonly name?: string;
}

/** A local CA in a folder, made there on first use. */
export class LocalCa implements CertificateIssuer {
  readonly name: string;
  /** Where the CA's certificate is: what a user trusts. */
  readonly certificateFile: string;
  private readonly permitted: readonly string[];
  private readonly leafDays: number;

  private constructor(
    private readonly caCert: forge.pki.Certificate,
    private readonly caKey: forge.pki.rsa.PrivateKey,
    certificateFile: string,
    options: LocalCaOptions,
  ) {
    this.name = options.name ?? 'local';
    this.certificateFile = certificateFile;
    this.permitted = options.permitted ?? ['localhost'];
    this.leafDays = options.leafDays ?? 90;
  }

  /** The CA in `dir` (`ca.crt`, `ca.key`), made first when there is none; `made` says whether it was. */
  static async loadOrCreate(dir: string, options: LocalCaOptions = {}): Promise<{ ca: LocalCa; made: boolean }> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const keyFile = join(dir, 'ca.key');
    const certFile = join(dir, 'ca.crt');
    let made = false;
    let keyPem: string | undefined;
    try {
      const fd = openSync(keyFile, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        keyPem = (await generate('rsa', { modulusLength: 2048 })).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
        writeSync(fd, keyPem);
        made = true;
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    keyPem ??= readPrivateFile(keyFile);
    const key = createPrivateKey(keyPem);
    const permitted = options.permitted ?? ['localhost'];
    // A key without its certificate (a start cut short between the two writes) gets one now.
    if (made || !existsSync(certFile)) writeFileSync(certFile, caCertificate(key, permitted), { mode: 0o644 });
    const certPem = readFileSync(certFile, 'utf8');
    if (!new X509Certificate(certPem).checkPrivateKey(key)) throw new IssuerError(`${certFile} is not the certificate of ${keyFile}: remove both to make a new CA`);
    return { ca: new LocalCa(forge.pki.certificateFromPem(certPem), forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey, certFile, options), made };
  }

  /** The CA's certificate, PEM. */
  certificatePem(): string {
    return forge.pki.certificateToPem(this.caCert);
  }

  refuses(host: string): string | undefined {
    const name = host.toLowerCase();
    if (this.permitted.some((p) => name === p || name.endsWith(`.${p}`))) return undefined;
    return `the ${this.name} certificate authority issues for ${this.permitted.map((p) => `${p} and *.${p}`).join(', ')} only (its certificate is name-constrained), not ${host}`;
  }

  async issue(host: string, now: Date): Promise<IssuedCertificate> {
    const refusal = this.refuses(host);
    if (refusal) throw new IssuerError(refusal);
    const name = host.toLowerCase();
    const { privateKey, publicKey } = await generate('rsa', { modulusLength: 2048 });
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ format: 'pem', type: 'spki' }).toString());
    cert.serialNumber = serial();
    // An hour back: a client whose clock is a little behind still accepts it.
    cert.validity.notBefore = new Date(now.getTime() - 3600_000);
    cert.validity.notAfter = new Date(now.getTime() + this.leafDays * DAY_MS);
    cert.setSubject([{ shortName: 'CN', value: name }]);
    cert.setIssuer(this.caCert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: name }] },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.caCert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(this.caKey, forge.md.sha256.create());
    return { certificatePem: forge.pki.certificateToPem(cert), privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
  }
}

/** A self-signed, name-constrained CA certificate for `key`, valid 10 years. */
function caCertificate(key: KeyObject, permitted: readonly string[]): string {
  const cert = forge.pki.createCertificate();
  const forgeKey = forge.pki.privateKeyFromPem(key.export({ format: 'pem', type: 'pkcs8' }).toString()) as forge.pki.rsa.PrivateKey;
  cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  cert.serialNumber = serial();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 3600_000);
  cert.validity.notAfter = new Date(now + 3650 * DAY_MS);
  const subject = [
    { shortName: 'O', value: 'tend local CA' },
    // Host and date tell two machines' CAs apart in a trust store.
    { shortName: 'CN', value: `tend local CA ${hostname().slice(0, 32)} ${new Date(now).toISOString().slice(0, 10)}` },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { id: '2.5.29.30', critical: true, value: nameConstraints(permitted) },
  ]);
  cert.sign(forgeKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** NameConstraints ::= SEQUENCE { permittedSubtrees [0] SEQUENCE OF GeneralSubtree { dNSName [2] } }. */
function nameConstraints(permitted: readonly string[]): forge.asn1.Asn1 {
  const { asn1 } = forge;
  const subtrees = permitted.map((dns) =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, dns)]),
  );
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, subtrees)]);
}

/** 16 random bytes, positive (the high bit clear), as hex. */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

/** A private file's text; refused when others may read it. */
function readPrivateFile(file: string): string {
  const fd = openSync(file, constants.O_RDONLY);
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) throw new IssuerError(`the CA key ${file} may be read by others (mode ${mode.toString(8).padStart(4, '0')}): make a new CA, or chmod 600 it if nobody else could have read it`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}
