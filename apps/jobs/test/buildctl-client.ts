// buildctl straight to a satellite's daemon over the hop's mutual TLS, as the proxy connects:
// a client certificate from the control plane's CA (the one the jobs processes under test use),
// its files in a scratch directory, and the flags that name one satellite.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadOrCreateCa, satelliteServerName } from "@satellites/pki";
import { processCaDir } from "@satellites/testing/satellite-tls";

export interface BuildctlClient {
  /** The scratch directory holding the certificate (tests put their build contexts here too). */
  dir: string;
  /** `--addr` and the TLS flags for one satellite's daemon. */
  flags(upstream: string, satelliteId: string): string[];
}

export async function buildctlClient(prefix: string, name: string): Promise<BuildctlClient> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const client = await (await loadOrCreateCa(processCaDir())).issueClient(name);
  for (const [f, v] of [["ca.pem", client.caPem], ["cert.pem", client.certPem], ["key.pem", client.keyPem]] as const) await writeFile(path.join(dir, f), v);
  return {
    dir,
    flags: (upstream, satelliteId) => [
      "--addr", `tcp://${upstream}`, "--tlscacert", path.join(dir, "ca.pem"), "--tlscert", path.join(dir, "cert.pem"), "--tlskey", path.join(dir, "key.pem"), "--tlsservername", satelliteServerName(satelliteId),
    ],
  };
}
