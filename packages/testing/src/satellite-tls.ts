// Satellites for tests that run the proxy or jobs as processes: those always speak mutual TLS
// to satellites with the embedded CA under the repository's .data/ca (their cwd), so a fixture
// satellite needs a server certificate from that CA. The wildcard name stands for any
// satellite's own name (<id>.satellites.internal); real satellites get one for their id only.
import path from "node:path";
import { loadOrCreateCa, type TlsMaterial } from "@satellites/pki";
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
