// What a client's TLS connection says about it, read once when the connection is set up. The
// front door asks for a certificate but lets the handshake finish without one (metadata clients
// use the same port); one that does not verify against the client CA — another CA, expired, not
// yet valid — is remembered as invalid, and every call on that connection is refused with why.
import type { TLSSocket } from "node:tls";
import { type CertificateSubject, subjectFromAltNames } from "@satellites/client-certs/identity";

export type PeerCertificate =
  | { kind: "none" }
  | { kind: "valid"; fingerprint: string; subject: CertificateSubject; notAfter: number }
  | { kind: "invalid"; reason: string };

const NONE: PeerCertificate = { kind: "none" };

// OpenSSL's verdicts, in words a person can act on.
const REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: "client certificate expired",
  CERT_NOT_YET_VALID: "client certificate not yet valid",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "client certificate not issued by this control plane",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "client certificate not issued by this control plane",
  DEPTH_ZERO_SELF_SIGNED_CERT: "client certificate not issued by this control plane",
  SELF_SIGNED_CERT_IN_CHAIN: "client certificate not issued by this control plane",
  CERT_SIGNATURE_FAILURE: "client certificate not issued by this control plane",
};

export function peerCertificateOf(socket: TLSSocket | undefined): PeerCertificate {
  if (!socket || typeof socket.getPeerX509Certificate !== "function") return NONE;
  const cert = socket.getPeerX509Certificate();
  if (!cert) return NONE;
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? "");
    return { kind: "invalid", reason: REASONS[code] ?? `client certificate refused (${code || "unverified"})` };
  }
  const subject = subjectFromAltNames(cert.subjectAltName);
  if (!subject) return { kind: "invalid", reason: "client certificate names no satellite" };
  return { kind: "valid", fingerprint: cert.fingerprint256.replaceAll(":", "").toLowerCase(), subject, notAfter: new Date(cert.validTo).getTime() };
}
