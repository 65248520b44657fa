// The bare relay (relay.ts) in front of a satellite's daemon, as its own process: plaintext from
// the client, the hop's mutual TLS to the daemon. Beside the proxy it shows what any second
// process on the path costs a build on these machines; what is left of the gap is the proxy's.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startListening } from "./harness.ts";

export interface HopCredentials {
  caPem: string;
  certPem: string;
  keyPem: string;
  servername: string;
}

export interface TlsRelay {
  port: number;
  pid: number;
  close(): Promise<void>;
}

/** A relay with the hop's credentials from `tlsDir` (ca.pem, cert.pem, key.pem). */
export async function startTlsRelay(upstream: string, tlsDir: string, servername: string, listenHost = "127.0.0.1"): Promise<TlsRelay> {
  const args = ["--import", "tsx", "bench/src/relay.ts", upstream, "--tls-dir", tlsDir, "--servername", servername, "--host", listenHost];
  const relay = await startListening(process.execPath, args, "relay (mutual TLS)");
  return { port: Number(relay.address.split(":").pop()), pid: relay.pid, close: () => relay.child.stop() };
}

/** A relay with the hop's credentials in memory: written to a folder of its own for the relay's start. */
export async function startTlsRelayWith(upstream: string, hop: HopCredentials, listenHost?: string): Promise<TlsRelay> {
  const dir = mkdtempSync(join(tmpdir(), "bench-relay-tls-"));
  writeFileSync(join(dir, "ca.pem"), hop.caPem);
  writeFileSync(join(dir, "cert.pem"), hop.certPem);
  writeFileSync(join(dir, "key.pem"), hop.keyPem, { mode: 0o600 });
  try {
    return await startTlsRelay(upstream, dir, hop.servername, listenHost);
  } finally {
    // The relay reads its certificate and key once, at start: no key is left behind in /tmp.
    rmSync(dir, { recursive: true, force: true });
  }
}
