// bench:build — real BuildKit builds, direct to a local satellite running moby buildkitd and
// through the proxy process (its mutual-TLS hop), with an unmodified buildctl behind a forwarder
// that adds the satellite metadata as the Earthly CLI does. Interleaved runs (direct, proxy, …),
// medians; the copies start from a cold cache (buildctl prune --all before each). Last line: one
// JSON object. wake_build_p50_ms needs a jobs worker waking the satellite: not measured here yet.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { waitHealthy } from "@satellites/backend";
import { loadOrCreateCa, satelliteServerName } from "@satellites/pki";
import { createLocalProvider } from "@satellites/provider/local";
import { startMetadataForwarder } from "@satellites/testing/metadata-forwarder";
import { requirePeer } from "@satellites/testing/peers";
import { processCaDir } from "@satellites/testing/satellite-tls";
import { benchDatabase, median, say, startProxyProcess, tenant } from "./harness.ts";
import { createSatellite, transition } from "@satellites/state";

const run = promisify(execFile);
const RUNS = Math.max(3, Number(process.env.BENCH_BUILD_RUNS ?? 3));
const MB = 1024 * 1024;

const buildkitd = requirePeer("buildkit", "buildkitd");
const buildctl = requirePeer("buildkit", "buildctl");
const base = await mkdtemp(join(tmpdir(), "bench-build-"));
const cgroupParent = `satellites-bench-build-${process.pid}`;
const bench = await benchDatabase();
const cleanups: Array<() => Promise<unknown> | void> = [() => bench.drop(), () => rm(base, { recursive: true, force: true })];

async function context(name: string, bytes: number): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir, { recursive: true });
  // Written in 16 MiB pieces: one 500 MB buffer would be a needless peak.
  const file = join(dir, "big.bin");
  for (let done = 0; done < bytes; done += 16 * MB) await writeFile(file, randomBytes(Math.min(16 * MB, bytes - done)), { flag: "a" });
  await writeFile(join(dir, "Dockerfile"), "FROM scratch\nCOPY big.bin /\n");
  return dir;
}

try {
  const ca = await loadOrCreateCa(processCaDir());
  const client = await ca.issueClient("bench");
  for (const [f, v] of [["ca.pem", client.caPem], ["cert.pem", client.certPem], ["key.pem", client.keyPem]] as const) await writeFile(join(base, f), v);
  const { orgId, token } = await tenant(bench.db);
  const { satellite } = await createSatellite(bench.db, { orgId, name: `bench-build-${process.pid}`, platform: "amd64", size: "medium", provider: "local", actor: "system", limitMemoryMiB: 6144 });
  const provider = createLocalProvider({ dataDir: join(base, "data"), cgroupParent, daemon: { kind: "buildkit", buildkitd }, ca });
  cleanups.unshift(async () => {
    for (const id of await provider.list()) await provider.terminate(id).catch(() => {});
    for (const h of ["cpu", "memory", "freezer"]) await run("rmdir", [`/sys/fs/cgroup/${h}/${cgroupParent}`]).catch(() => {});
  });
  const launched = await provider.launch({ satelliteId: satellite.id, orgId, name: satellite.name, platform: "amd64", size: "medium", limits: { cpuPercent: 95, memoryMiB: 6144, swapMiB: 0, diskGiB: 20, oomScoreAdj: 300, idleTimeoutSeconds: 1800 }, hibernate: false });
  const upstream = (await provider.describe(launched.instanceId)).upstream!;
  const creds = grpc.credentials.createSsl(Buffer.from(client.caPem), Buffer.from(client.keyPem), Buffer.from(client.certPem));
  if (!(await waitHealthy(upstream, { totalMs: 30_000, credentials: creds, serverName: satelliteServerName(satellite.id) }))) throw new Error("buildkitd did not become ready");
  const r = await transition(bench.db, { satellite, to: "awake", cause: "launch", actor: "system", set: { upstream } });
  if (!r.won) throw new Error("could not mark the bench satellite awake");
  const proxy = await startProxyProcess({ DATABASE_URL: bench.url, QUEUE_PREFIX: `satellites-bench-${randomBytes(3).toString("hex")}` });
  cleanups.unshift(() => proxy.child.stop());
  const forwarder = await startMetadataForwarder(`127.0.0.1:${proxy.port}`, { satellite_name: satellite.name, satellite_org: orgId, satellite_token: token });
  cleanups.unshift(() => forwarder.close());

  const copy50 = await context("copy50", 50 * MB);
  const copy500 = await context("copy500", 500 * MB);
  const runCtx = join(base, "run");
  await mkdir(runCtx);
  await copyFile("/usr/bin/busybox", join(runCtx, "busybox"));
  await writeFile(join(runCtx, "Dockerfile"), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox seq 1 20000 > /n"]\n');

  const direct = ["--addr", `tcp://${upstream}`, "--tlscacert", join(base, "ca.pem"), "--tlscert", join(base, "cert.pem"), "--tlskey", join(base, "key.pem"), "--tlsservername", "localhost"];
  const proxied = ["--addr", `tcp://${forwarder.address}`];
  const prune = () => run(buildctl, [...direct, "prune", "--all"]);
  const build = async (addr: string[], ctx: string): Promise<number> => {
    const out = await mkdtemp(join(base, "out-"));
    const t0 = performance.now();
    await run(buildctl, [...addr, "build", "--frontend", "dockerfile.v0", "--local", `context=${ctx}`, "--local", `dockerfile=${ctx}`, "--output", `type=local,dest=${out}`], { maxBuffer: 64 << 20 });
    const s = (performance.now() - t0) / 1000;
    await rm(out, { recursive: true, force: true });
    return s;
  };
  const samples: Record<string, number[]> = {};
  const add = (k: string, v: number) => (samples[k] ??= []).push(v);
  // The RUN build's cache warm once; the copies are measured cold.
  await build(direct, runCtx);
  say(`satellite ${upstream} (buildkitd), proxy :${proxy.port}, forwarder ${forwarder.address}; ${RUNS} interleaved runs`);
  for (let i = 0; i < RUNS; i++) {
    const order: Array<["direct" | "proxy", string[]]> = i % 2 ? [["proxy", proxied], ["direct", direct]] : [["direct", direct], ["proxy", proxied]];
    for (const [label, addr] of order) {
      for (const [name, ctx] of [["copy50", copy50], ["copy500", copy500]] as const) {
        await prune();
        add(`${name}_${label}_s`, await build(addr, ctx));
      }
      add(`run_warm_${label}_s`, await build(addr, runCtx));
    }
    say(`run ${i + 1}: ${Object.entries(samples).map(([k, v]) => `${k}=${v.at(-1)!.toFixed(2)}`).join(" ")}`);
  }
  const result: Record<string, number | null | string> = {};
  for (const k of ["copy50_direct_s", "copy50_proxy_s", "copy500_direct_s", "copy500_proxy_s", "run_warm_direct_s", "run_warm_proxy_s"]) result[k] = Math.round(median(samples[k]!) * 1000) / 1000;
  result.copy50_ratio = Math.round(((result.copy50_proxy_s as number) / (result.copy50_direct_s as number)) * 1000) / 1000;
  result.copy500_ratio = Math.round(((result.copy500_proxy_s as number) / (result.copy500_direct_s as number)) * 1000) / 1000;
  result.wake_build_p50_ms = null;
  result.wake_build_note = "not measured by this bench yet (needs a jobs worker waking the satellite)";
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  for (const c of cleanups) await Promise.resolve(c()).catch(() => {});
}
process.exit(0);
