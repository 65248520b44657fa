// The front door's TLS for the proxy process. Production: the operator's certificate
// (PROXY_TLS_CERT/KEY), TLS only. The embedded default: a certificate the control-plane CA issues
// at start for the public address's host (and loopback), so the ca.pem of a client bundle
// verifies it; h2c stays on the same port for the Earthly CLI's plaintext setup. Either way the
// client CA's certificates are asked for (docs/clients.md).
import { readFile } from "node:fs/promises";
import { proxyPublicAddress, type Config } from "@satellites/config";
import { type CertificateAuthority, serverNames } from "@satellites/pki";
import type { FrontDoorTls } from "./front-door.ts";

type TlsConfig = Pick<Config, "PROXY_TLS_CERT" | "PROXY_TLS_KEY" | "PROXY_PUBLIC_ADDRESS" | "PUBLIC_URL" | "PROXY_PORT">;

/** The host of a host:port, IPv6 brackets removed. */
export function hostOf(address: string): string {
  const host = address.replace(/:\d+$/, "");
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

export async function frontDoorTls(config: TlsConfig, controlPlaneCa: CertificateAuthority, clientCa: CertificateAuthority): Promise<FrontDoorTls> {
  if (config.PROXY_TLS_CERT && config.PROXY_TLS_KEY) {
    const [cert, key] = await Promise.all([readFile(config.PROXY_TLS_CERT, "utf8"), readFile(config.PROXY_TLS_KEY, "utf8")]);
    return { cert, key, clientCa: clientCa.certPem, plaintext: false };
  }
  const hosts = [...new Set([hostOf(proxyPublicAddress(config)), "localhost", "127.0.0.1", "::1"])];
  const issued = await controlPlaneCa.issueServer("satellites proxy", serverNames(hosts));
  return { cert: issued.certPem, key: issued.keyPem, clientCa: clientCa.certPem, plaintext: true };
}
