// One awake local satellite running moby BuildKit (the local provider, its own cgroup parent),
// an in-process proxy speaking mutual TLS to it, and the metadata forwarder in front of the proxy
// for unmodified buildctl: what the BuildKit proxy tests build through. Root only (cgroups, runc).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { waitHealthy } from "@satellites/backend";
import { CertificateAuthority, satelliteServerName, type TlsMaterial } from "@satellites/pki";
import { bridgeNetwork, createLocalProvider, type LocalProvider } from "@satellites/provider/local";
import { makeOrg, testDb } from "@satellites/testing";
import { terminateAll } from "@satellites/testing/local";
import { startMetadataForwarder, type Forwarder } from "@satellites/testing/metadata-forwarder";
import { requirePeer } from "@satellites/testing/peers";
import { expect } from "vitest";
import { awakeSatellite, dropQueueKeys, makeToken, startTestProxy } from "./helpers.ts";

const run = promisify(execFile);

export interface ProxiedBuildkit {
  satelliteId: string;
  /** The metadata a client sends for it. */
  satellite: { name: string; org: string; token: string };
  /** The satellite's own address (mutual TLS, `client`'s CA). */
  upstream: string;
  /** A client certificate the satellite accepts, for builds straight to it. */
  client: TlsMaterial;
  proxyPort: number;
  /** Where buildctl sends its builds: the forwarder adding the satellite metadata. */
  forwarderAddress: string;
  close(): Promise<void>;
}

export async function startProxiedBuildkit(opts: { label: string; dataDir: string; cgroupParent: string; diskGiB?: number }): Promise<ProxiedBuildkit> {
  const db = testDb();
  const buildkitd = requirePeer("buildkit", "buildkitd");
  const { ca } = await CertificateAuthority.create("test CA");
  const client = await ca.issueClient("test client");
  const org = await makeOrg(db, opts.label);
  const { token } = await makeToken(db, org.id);
  const sat = await awakeSatellite(db, org.id, "127.0.0.1:1");
  let provider: LocalProvider | undefined;
  let proxy: Awaited<ReturnType<typeof startTestProxy>> | undefined;
  let forwarder: Forwarder | undefined;
  const close = async (): Promise<void> => {
    await forwarder?.close();
    await proxy?.close({ graceMs: 100 });
    if (proxy) await dropQueueKeys(proxy.prefix);
    try {
      if (provider) await terminateAll(provider, opts.label);
    } finally {
      for (const h of ["cpu", "memory", "freezer", "pids"]) await run("rmdir", [`/sys/fs/cgroup/${h}/${opts.cgroupParent}`]).catch(() => {});
    }
  };
  try {
    provider = createLocalProvider({ dataDir: opts.dataDir, cgroupParent: opts.cgroupParent, daemon: { kind: "buildkit", buildkitd, network: bridgeNetwork() }, ca });
    const limits = { cpuPercent: 95, memoryMiB: 2048, swapMiB: 0, diskGiB: opts.diskGiB ?? 10, oomScoreAdj: 300, idleTimeoutSeconds: 1800 };
    const launched = await provider.launch({ satelliteId: sat.id, orgId: org.id, name: sat.name, platform: "amd64", size: "small", limits, hibernate: false });
    const upstream = (await provider.describe(launched.instanceId)).upstream!;
    const creds = grpc.credentials.createSsl(Buffer.from(client.caPem), Buffer.from(client.keyPem), Buffer.from(client.certPem));
    expect(await waitHealthy(upstream, { totalMs: 30_000, credentials: creds, serverName: satelliteServerName(sat.id) })).toBe(true);
    await db.satellite.update({ where: { id: sat.id }, data: { upstream } });
    proxy = await startTestProxy({ upstreamTls: await ca.issueClient("proxy") });
    forwarder = await startMetadataForwarder(`127.0.0.1:${proxy.port}`, { satellite_name: sat.name, satellite_org: org.id, satellite_token: token });
    return { satelliteId: sat.id, satellite: { name: sat.name, org: org.id, token }, upstream, client, proxyPort: proxy.port, forwarderAddress: forwarder.address, close };
  } catch (err) {
    await close().catch((closeErr: unknown) => console.error(closeErr));
    throw err;
  }
}
