// The two CAs a client certificate involves. The client CA signs tenants' certificates and only
// the proxy trusts it; it is not the control-plane CA that satellites trust, so a tenant's
// certificate never opens a satellite's own address. The bundle's ca.pem is what verifies the
// proxy's server certificate: the operator's PROXY_TLS_CA_FILE, else the control-plane CA (which
// issues the embedded default's server certificate).
import { readFile } from "node:fs/promises";
import path from "node:path";
import { type CertificateAuthority, loadCa } from "@satellites/pki";

export interface CaConfig {
  CLIENT_CA_DIR: string;
  CLIENT_CA_CERT_FILE?: string | undefined;
  CLIENT_CA_KEY_FILE?: string | undefined;
  SATELLITE_CA_DIR: string;
  SATELLITE_CA_CERT_FILE?: string | undefined;
  SATELLITE_CA_KEY_FILE?: string | undefined;
  PROXY_TLS_CERT?: string | undefined;
  PROXY_TLS_CA_FILE?: string | undefined;
}

export function loadClientCa(c: CaConfig): Promise<CertificateAuthority> {
  return loadCa({ dir: path.resolve(c.CLIENT_CA_DIR), certFile: c.CLIENT_CA_CERT_FILE, keyFile: c.CLIENT_CA_KEY_FILE });
}

export function loadControlPlaneCa(c: CaConfig): Promise<CertificateAuthority> {
  return loadCa({ dir: path.resolve(c.SATELLITE_CA_DIR), certFile: c.SATELLITE_CA_CERT_FILE, keyFile: c.SATELLITE_CA_KEY_FILE });
}

/** PEM that verifies the proxy's server certificate: what a client bundle carries as ca.pem. */
export async function serverCaPem(c: CaConfig): Promise<string> {
  if (c.PROXY_TLS_CERT) {
    if (c.PROXY_TLS_CA_FILE) return readFile(c.PROXY_TLS_CA_FILE, "utf8");
    // No CA file: the served certificate itself, which Go clients (buildctl, buildx, EarthBuild)
    // accept as a trust anchor. PROXY_TLS_CA_FILE is better: it survives the certificate's renewal.
    return readFile(c.PROXY_TLS_CERT, "utf8");
  }
  return (await loadControlPlaneCa(c)).certPem;
}
