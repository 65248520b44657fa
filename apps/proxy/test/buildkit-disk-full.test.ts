// A satellite whose disk fills up during a build, on a real BuildKit: the client is told
// BuildKit's "no space left on device", and the proxy's record of the build keeps those words
// (the dashboard marks the build "disk full" from them). The satellite's data directory is a
// small tmpfs, so the disk is really full, not simulated.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { waitHealthy } from "@satellites/backend";
import { CertificateAuthority, satelliteServerName } from "@satellites/pki";
import { bridgeNetwork, createLocalProvider, type LocalProvider } from "@satellites/provider/local";
import { makeOrg, testDb } from "@satellites/testing";
import { startMetadataForwarder, type Forwarder } from "@satellites/testing/metadata-forwarder";
import { requirePeer } from "@satellites/testing/peers";
import { afterAll, beforeAll, expect, it } from "vitest";
import { awakeSatellite, dropQueueKeys, makeToken, startTestProxy } from "./helpers.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const db = testDb();
/** The satellite's whole disk: room for buildkitd's own state, not for the build's context. */
const DISK_MIB = 96;
let base = "";
let dataDir = "";
let mounted = false;
let provider: LocalProvider | undefined;
let proxy: Awaited<ReturnType<typeof startTestProxy>> | undefined;
let forwarder: Forwarder | undefined;
let buildctl = "";
let satelliteId = "";
const cgroupParent = `satellites-test-bkdisk-${process.pid}`;

beforeAll(async () => {
  if (!isRoot) return;
  const buildkitd = requirePeer("buildkit", "buildkitd");
  buildctl = requirePeer("buildkit", "buildctl");
  base = await mkdtemp(join(tmpdir(), "bkdisk-"));
  dataDir = join(base, "data");
  await mkdir(dataDir);
  await run("mount", ["-t", "tmpfs", "-o", `size=${DISK_MIB}m`, "tmpfs", dataDir]);
  mounted = true;
  const { ca } = await CertificateAuthority.create("test CA");
  const client = await ca.issueClient("test client");
  const org = await makeOrg(db, "bkdisk");
  const { token } = await makeToken(db, org.id);
  const sat = await awakeSatellite(db, org.id, "127.0.0.1:1");
  satelliteId = sat.id;
  provider = createLocalProvider({ dataDir, cgroupParent, daemon: { kind: "buildkit", buildkitd, network: bridgeNetwork() }, ca });
  const launched = await provider.launch({ satelliteId: sat.id, orgId: org.id, name: sat.name, platform: "amd64", size: "small", limits: { cpuPercent: 95, memoryMiB: 2048, swapMiB: 0, diskGiB: 20, oomScoreAdj: 300, idleTimeoutSeconds: 1800 }, hibernate: false });
  const upstream = (await provider.describe(launched.instanceId)).upstream!;
  const creds = grpc.credentials.createSsl(Buffer.from(client.caPem), Buffer.from(client.keyPem), Buffer.from(client.certPem));
  expect(await waitHealthy(upstream, { totalMs: 30_000, credentials: creds, serverName: satelliteServerName(sat.id) })).toBe(true);
  await db.satellite.update({ where: { id: sat.id }, data: { upstream } });
  proxy = await startTestProxy({ upstreamTls: await ca.issueClient("proxy") });
  forwarder = await startMetadataForwarder(`127.0.0.1:${proxy.port}`, { satellite_name: sat.name, satellite_org: org.id, satellite_token: token });
}, 120_000);

afterAll(async () => {
  await forwarder?.close();
  await proxy?.close({ graceMs: 100 });
  if (proxy) await dropQueueKeys(proxy.prefix);
  if (provider) for (const id of await provider.list()) await provider.terminate(id).catch(() => {});
  for (const h of ["cpu", "memory", "freezer"]) await run("rmdir", [`/sys/fs/cgroup/${h}/${cgroupParent}`]).catch(() => {});
  if (mounted) await run("umount", ["-l", dataDir]).catch(() => {});
  if (base) await rm(base, { recursive: true, force: true });
  await db.$disconnect();
}, 60_000);

it.runIf(isRoot)("a build's context larger than the satellite's free disk: the client gets BuildKit's 'no space left on device', and the build's record keeps it", { timeout: 180_000 }, async () => {
  // Twice the disk, sparse here (no disk of the test's spent on it): BuildKit receives it whole.
  const ctx = join(base, "ctx");
  await mkdir(ctx);
  await writeFile(join(ctx, "big.bin"), "");
  await truncate(join(ctx, "big.bin"), 2 * DISK_MIB * 2 ** 20);
  const df = join(base, "df");
  await mkdir(df);
  await writeFile(join(df, "Dockerfile"), "FROM scratch\nCOPY big.bin /big.bin\n");
  const failed = run(buildctl, ["--addr", `tcp://${forwarder!.address}`, "build", "--frontend", "dockerfile.v0", "--local", `context=${ctx}`, "--local", `dockerfile=${df}`, "--output", `type=local,dest=${join(base, "out")}`], { maxBuffer: 64 << 20 });
  await expect(failed).rejects.toThrow(/no space left on device/);

  const row = await expect
    .poll(async () => (await db.build.findFirst({ where: { satelliteId, endedAt: { not: null } } })) ?? undefined, { timeout: 10_000 })
    .toBeDefined()
    .then(() => db.build.findFirstOrThrow({ where: { satelliteId, endedAt: { not: null } } }));
  expect(row.grpcCode).not.toBe(0);
  expect(row.error).toMatch(/no space left on device/);
  expect(row.error!.length).toBeLessThanOrEqual(1_000);
  console.log(`recorded: ${JSON.stringify({ grpcCode: row.grpcCode, error: row.error })}`);
});
