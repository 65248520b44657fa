// The built-in backend as a satellite over mutual TLS: it serves only clients with a
// certificate from the control plane's CA (grpc-js createSsl with checkClientCertificate).
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { probeHealth, waitHealthy } from "@satellites/backend";
import { CertificateAuthority } from "@satellites/pki";
import { terminateAll } from "@satellites/testing/local";
import { createLocalProvider } from "../src/local.ts";

const limits = { cpuPercent: 50, memoryMiB: 512, swapMiB: 0, diskGiB: 5, oomScoreAdj: 300, idleTimeoutSeconds: 60 };

describe("built-in backend over mutual TLS", () => {
  let base = "";
  const provider = { current: null as ReturnType<typeof createLocalProvider> | null };
  afterAll(async () => {
    try {
      if (provider.current) await terminateAll(provider.current);
    } finally {
      if (base) await rm(base, { recursive: true, force: true });
    }
  });

  it("accepts the CA's client certificate and refuses everyone else at the handshake", async () => {
    base = await mkdtemp(join(tmpdir(), "tls-"));
    const { ca } = await CertificateAuthority.create("test CA");
    // No cgroups needed here: an unused cgroup root puts the provider in the unconfined mode.
    provider.current = createLocalProvider({ dataDir: join(base, "data"), ca, cgroupRoot: join(base, "no-cgroups") });
    const launched = await provider.current.launch({ satelliteId: "sat-tls", orgId: "org", name: "sat-tls", platform: "amd64", size: "small", limits, hibernate: false });
    const upstream = (await provider.current.describe(launched.instanceId)).upstream!;
    const client = await ca.issueClient("proxy");
    const creds = grpc.credentials.createSsl(Buffer.from(client.caPem), Buffer.from(client.keyPem), Buffer.from(client.certPem));
    expect(await waitHealthy(upstream, { totalMs: 20_000, credentials: creds })).toBe(true);
    expect(await probeHealth(upstream, { timeoutMs: 3000 })).toBe("UNREACHABLE");
    expect(await probeHealth(upstream, { timeoutMs: 3000, credentials: grpc.credentials.createSsl(Buffer.from(client.caPem)) })).toBe("UNREACHABLE");
    const other = await (await CertificateAuthority.create("other")).ca.issueClient("intruder");
    const otherCreds = grpc.credentials.createSsl(Buffer.from(client.caPem), Buffer.from(other.keyPem), Buffer.from(other.certPem));
    expect(await probeHealth(upstream, { timeoutMs: 3000, credentials: otherCreds })).toBe("UNREACHABLE");
    // The satellite's key is readable by its owner only.
    expect((await stat(join(base, "data", launched.instanceId, "tls", "key.pem"))).mode & 0o077).toBe(0);
  }, 60_000);
});
