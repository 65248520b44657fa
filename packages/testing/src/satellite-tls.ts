// Satellites for tests that run the proxy or jobs as processes: those always speak mutual TLS
// to satellites with the embedded CA under the repository's .data/ca (their cwd), so a fixture
// satellite needs a server certificate from that CA. The wildcard name stands for any
// satellite's own name (<id>.satellites.internal); real satellites get one for their id only.
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadOrCreateCa, satelliteServerName, type TlsMaterial } from "@satellites/pki";
import { REPO_ROOT } from "./peers.ts";

/** The CA directory processes started from the repository root use by default (SATELLITE_CA_DIR). */
export function processCaDir(): string {
  return path.join(REPO_ROOT, ".data", "ca");
}

/** A server certificate (any satellite's name, 127.0.0.1) for a fixture satellite such as startBackend. */
export async function fixtureSatelliteTls(): Promise<TlsMaterial> {
  const ca = await loadOrCreateCa(processCaDir());
  return ca.issueServer("fixture satellite", { dns: ["*.satellites.internal", "localhost"], ips: ["127.0.0.1"] });
}

/**
 * What a test needs to probe a satellite the jobs process launched, as the proxy would: a client
 * certificate from the processes' CA, and the name the satellite's certificate carries.
 */
export async function fixtureHopProbe(satelliteId: string): Promise<{ credentials: grpc.ChannelCredentials; serverName: string }> {
  const ca = await loadOrCreateCa(processCaDir());
  const client = await ca.issueClient("test probe");
  return {
    credentials: grpc.credentials.createSsl(Buffer.from(client.caPem), Buffer.from(client.keyPem), Buffer.from(client.certPem)),
    serverName: satelliteServerName(satelliteId),
  };
}
