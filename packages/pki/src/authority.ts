// The control plane's certificate authority for the proxy→satellite hop. It issues each
// satellite a server certificate and the proxy a client certificate; a satellite accepts only
// clients whose certificate this CA signed. X.509 is @peculiar/x509's job on node's webcrypto.
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { createHash, randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

type Key = webcrypto.CryptoKey;
// x509's types name the DOM's Crypto; node's webcrypto is that API.
x509.cryptoProvider.set(webcrypto as never);

// ECDSA P-256: understood by OpenSSL (grpc-js, node:http2, node:tls) and Go (buildkitd).
const KEY_ALG = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN_ALG = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;
/** Leaf certificates: long enough for a satellite that sleeps for months between starts. */
export const LEAF_DAYS = 5 * 365;
const CA_DAYS = 20 * 365;

/** A certificate with its private key, both PEM (key as PKCS#8). */
export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

/** What a TLS endpoint of the hop needs: its own pair and the CA that vouches for the other side. */
export interface TlsMaterial extends KeyPairPem {
  caPem: string;
}

/** A client certificate for a tenant's BuildKit client, with what identifies it. */
export interface IssuedClient extends KeyPairPem {
  /** Serial number, lowercase hex. */
  serial: string;
  /** SHA-256 of the DER, lowercase hex (what a TLS server sees of the presented certificate). */
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
}

export interface ClientRequest {
  commonName: string;
  /** URI subject alternative names: the identity a verifier reads (never the free-form CN). */
  uris: string[];
  notAfter: Date;
  /** Default a minute ago (clocks of the verifiers may be a little behind). */
  notBefore?: Date;
}

/** SHA-256 of a certificate's DER as lowercase hex. */
export function fingerprintOf(der: ArrayBuffer | Uint8Array): string {
  return createHash("sha256").update(der instanceof Uint8Array ? der : new Uint8Array(der)).digest("hex");
}

export interface ServerNames {
  dns?: string[];
  ips?: string[];
}

function pemKey(der: ArrayBuffer): string {
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/** Splits host names into the SAN kinds a certificate needs (IP literals are IP entries). */
export function serverNames(hosts: string[]): ServerNames {
  return { dns: hosts.filter((h) => !isIp(h)), ips: hosts.filter(isIp) };
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  // A minute back: clocks of the machines that check it may be a little behind ours.
  const now = Date.now();
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + days * DAY_MS) };
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALG, true, ["sign", "verify"]) as Promise<webcrypto.CryptoKeyPair>;
}

export class CertificateAuthority {
  private constructor(
    private readonly cert: x509.X509Certificate,
    private readonly key: Key,
    readonly certPem: string,
  ) {}

  /** A new self-signed CA. */
  static async create(commonName = "Satellites control plane CA"): Promise<{ ca: CertificateAuthority; keyPem: string }> {
    const keys = await generateKeys();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: `CN=${commonName}`,
      keys,
      signingAlgorithm: SIGN_ALG,
      ...validity(CA_DAYS),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const keyPem = pemKey(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey as webcrypto.CryptoKey));
    return { ca: new CertificateAuthority(cert, keys.privateKey, cert.toString("pem")), keyPem };
  }

  /** The CA from its PEM certificate and PKCS#8 key (an operator's, or one made by create). */
  static async fromPem(certPem: string, keyPem: string): Promise<CertificateAuthority> {
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(certPem);
    } catch (err) {
      throw new Error(`CA certificate is not a PEM X.509 certificate: ${(err as Error).message}`, { cause: err });
    }
    const basic = cert.getExtension(x509.BasicConstraintsExtension);
    if (!basic?.ca) throw new Error("CA certificate is not a CA (basicConstraints CA:TRUE missing)");
    let key: Key;
    try {
      const der = x509.PemConverter.decodeFirst(keyPem);
      key = (await webcrypto.subtle.importKey("pkcs8", der, KEY_ALG, true, ["sign"])) as Key;
    } catch (err) {
      throw new Error(`CA key must be a PEM PKCS#8 ECDSA P-256 key (BEGIN PRIVATE KEY): ${(err as Error).message}`, { cause: err });
    }
    // The key must be the certificate's: sign something and check it with the certificate.
    const probe = new TextEncoder().encode("satellites-ca-check");
    const sig = await webcrypto.subtle.sign(SIGN_ALG, key as webcrypto.CryptoKey, probe);
    const pub = await cert.publicKey.export(KEY_ALG, ["verify"]);
    if (!(await webcrypto.subtle.verify(SIGN_ALG, pub as webcrypto.CryptoKey, sig, probe))) throw new Error("CA key does not belong to the CA certificate");
    return new CertificateAuthority(cert, key, cert.toString("pem"));
  }

  private async issue(commonName: string, usage: x509.ExtendedKeyUsage, extra: x509.Extension[], period = validity(LEAF_DAYS)): Promise<KeyPairPem & { cert: x509.X509Certificate }> {
    const keys = await generateKeys();
    // 128 random bits, top bit clear so the DER integer stays positive.
    const serial = randomBytes(16);
    serial[0] = serial[0]! & 0x7f || 0x01;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial.toString("hex"),
      subject: `CN=${commonName}`,
      issuer: this.cert.subject,
      publicKey: keys.publicKey,
      signingKey: this.key,
      signingAlgorithm: SIGN_ALG,
      ...period,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([usage]),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert.publicKey),
        ...extra,
      ],
    });
    const keyPem = pemKey(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey as webcrypto.CryptoKey));
    return { certPem: cert.toString("pem"), keyPem, cert };
  }

  /** A satellite's server certificate, valid for the names the proxy dials it by. */
  async issueServer(commonName: string, names: ServerNames): Promise<TlsMaterial> {
    const san: x509.JsonGeneralName[] = [
      ...(names.dns ?? []).map((value) => ({ type: "dns" as const, value })),
      ...(names.ips ?? []).map((value) => ({ type: "ip" as const, value })),
    ];
    if (san.length === 0) throw new Error("a server certificate needs at least one DNS name or IP address");
    const { certPem, keyPem } = await this.issue(commonName, x509.ExtendedKeyUsage.serverAuth, [new x509.SubjectAlternativeNameExtension(san)]);
    return { certPem, keyPem, caPem: this.certPem };
  }

  /** A client certificate for the hop (the proxy's, the jobs worker's health probe). */
  async issueClient(commonName: string): Promise<TlsMaterial> {
    const { certPem, keyPem } = await this.issue(commonName, x509.ExtendedKeyUsage.clientAuth, []);
    return { certPem, keyPem, caPem: this.certPem };
  }

  /** A client certificate naming its holder in URI SANs, valid for exactly the period asked. */
  async issueClientFor(req: ClientRequest): Promise<IssuedClient> {
    if (req.uris.length === 0) throw new Error("a client certificate needs at least one URI name");
    const notBefore = req.notBefore ?? new Date(Date.now() - 60_000);
    if (req.notAfter <= notBefore) throw new RangeError("a certificate must end after it begins");
    const san = new x509.SubjectAlternativeNameExtension(req.uris.map((value) => ({ type: "url" as const, value })));
    const { certPem, keyPem, cert } = await this.issue(req.commonName, x509.ExtendedKeyUsage.clientAuth, [san], { notBefore, notAfter: req.notAfter });
    return { certPem, keyPem, serial: cert.serialNumber.toLowerCase(), fingerprint: fingerprintOf(cert.rawData), notBefore: cert.notBefore, notAfter: cert.notAfter };
  }
}

/**
 * The name a satellite's server certificate is issued for and the proxy verifies: its id under
 * a private suffix, so a certificate of one satellite never passes for another's, whatever
 * address either has (EC2 private IPs are known only after launch, and get reused).
 */
export function satelliteServerName(satelliteId: string): string {
  const label = satelliteId.toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) throw new RangeError(`satellite id ${JSON.stringify(satelliteId)} is not a DNS label`);
  return `${label}.satellites.internal`;
}
