// bench:build — real BuildKit builds, as deployed: a buildkitd satellite run by the jobs worker,
// direct over the satellite's mutual TLS and through the proxy process. Clients: BuildKit's own Go
// client library (peers/buildkit-client), which sends the satellite metadata itself as the Earthly
// CLI does (no forwarder in between), and docker buildx's remote driver with a tenant's client
// certificate; the Go client's copies also through a bare relay. Interleaved runs (direct, relay,
// proxy, …), medians; the copies start from a cold cache (buildctl prune --all before each). Then
// builds against the asleep satellite: request to the first response byte, with where that time
// went. Last line: one JSON object.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { goBuild } from "@satellites/testing/buildkit-client";
import { requirePeer } from "@satellites/testing/peers";
import { buildWorld, type BuildWorld } from "./build-world.ts";
import { buildx } from "./buildx.ts";
import { cpuMs, median, RUNTIME, say } from "./harness.ts";
import { measureWakes } from "./build-wake.ts";
import { startTlsRelay, type TlsRelay } from "./tls-relay.ts";

const run = promisify(execFile);
const RUNS = Math.max(3, Number(process.env.BENCH_BUILD_RUNS ?? 3));
const MB = 1024 * 1024;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

async function context(base: string, name: string, bytes: number): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir, { recursive: true });
  // Written in 16 MiB pieces: one 500 MB buffer would be a needless peak.
  const file = join(dir, "big.bin");
  for (let done = 0; done < bytes; done += 16 * MB) await writeFile(file, randomBytes(Math.min(16 * MB, bytes - done)), { flag: "a" });
  await writeFile(join(dir, "Dockerfile"), "FROM scratch\nCOPY big.bin /\n");
  return dir;
}

async function runContext(base: string): Promise<string> {
  const dir = join(base, "run");
  await mkdir(dir);
  await copyFile("/usr/bin/busybox", join(dir, "busybox"));
  await writeFile(join(dir, "Dockerfile"), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox seq 1 20000 > /n"]\n');
  return dir;
}

/** Seconds one build takes, client process start to exit; its output is thrown away. */
async function timed(base: string, build: (out: string) => Promise<unknown>): Promise<number> {
  const out = await mkdtemp(join(base, "out-"));
  const t0 = performance.now();
  await build(out);
  const s = (performance.now() - t0) / 1000;
  await rm(out, { recursive: true, force: true });
  return s;
}

// "relay": the Go client's copies through a bare TCP relay that opens the hop's TLS as the proxy
// does (tls-relay.ts): what any second process on the path costs a copy here.
type Route = "direct" | "proxy" | "relay";

async function interleaved(base: string, w: BuildWorld, ctx: { copy50: string; copy500: string; run: string }, relay: TlsRelay): Promise<Record<string, number[]>> {
  const buildctl = requirePeer("buildkit", "buildctl");
  const hopTls = { ...w.hop, serverName: "localhost" };
  const go = (route: Route, context: string) => (output: string) =>
    goBuild(
      route === "direct"
        ? { addr: `tcp://${w.upstream}`, tls: hopTls, context, output }
        : { addr: `tcp://${route === "proxy" ? w.proxy : `127.0.0.1:${relay.port}`}`, satellite: w.satellite, context, output },
    );
  const bx = buildx(requirePeer("buildx", "buildx"), join(base, "buildx"));
  await bx.create("bench-direct", w.upstream, w.hop);
  await bx.create("bench-proxy", w.proxy, w.bundle);
  const prune = () => run(buildctl, ["--addr", `tcp://${w.upstream}`, "--tlscacert", w.hop.ca, "--tlscert", w.hop.cert, "--tlskey", w.hop.key, "--tlsservername", "localhost", "prune", "--all"]);
  const samples: Record<string, number[]> = {};
  const add = (k: string, v: number) => (samples[k] ??= []).push(v);
  // The RUN build's cache warm once (and each buildx builder's first connection made); the copies are measured cold.
  await timed(base, go("direct", ctx.run));
  for (const name of ["bench-direct", "bench-proxy"]) await timed(base, (out) => bx.build(name, ctx.run, out));
  for (let i = 0; i < RUNS; i++) {
    const order: Route[] = i % 2 ? ["proxy", "relay", "direct"] : ["direct", "relay", "proxy"];
    for (const route of order) {
      for (const [name, dir] of [["copy50", ctx.copy50], ["copy500", ctx.copy500]] as const) {
        await prune();
        // The forwarder's CPU during the build: on two shared vCPUs, time the endpoints cannot use.
        const forwarder = { direct: undefined, proxy: w.proxyPid, relay: relay.pid }[route];
        const cpu0 = forwarder ? cpuMs(forwarder) : 0;
        const gcs0 = route === "proxy" ? await w.proxyMajorGcs() : 0;
        add(`${name}_${route}_s`, await timed(base, go(route, dir)));
        if (forwarder) add(`${name}_${route}_cpu_s`, (cpuMs(forwarder) - cpu0) / 1000);
        if (route === "proxy") add(`${name}_proxy_major_gcs`, (await w.proxyMajorGcs()) - gcs0);
      }
      if (route === "relay") continue;
      add(`run_warm_${route}_s`, await timed(base, go(route, ctx.run)));
      await prune();
      add(`copy50_buildx_${route}_s`, await timed(base, (out) => bx.build(`bench-${route}`, ctx.copy50, out)));
    }
    say(`run ${i + 1}: ${Object.entries(samples).map(([k, v]) => `${k}=${v.at(-1)!.toFixed(2)}`).join(" ")}`);
  }
  return samples;
}

// Every peer before anything starts: a missing one fails with the command that builds it.
for (const [peer, bin] of [["buildkit", "buildkitd"], ["buildkit", "buildctl"], ["buildx", "buildx"], ["buildkit-client", undefined]] as const) requirePeer(peer, bin);
const base = await mkdtemp(join(tmpdir(), "bench-build-"));
let world: BuildWorld | undefined;
try {
  world = await buildWorld(base, requirePeer("buildkit", "buildkitd"));
  const ctx = { copy50: await context(base, "copy50", 50 * MB), copy500: await context(base, "copy500", 500 * MB), run: await runContext(base) };
  say(`${RUNS} interleaved runs: Go client direct (mutual TLS) and through the proxy (metadata); buildx remote driver direct and through the proxy (client certificate)`);
  const relay = await startTlsRelay(world.upstream, dirname(world.hop.ca), "localhost");
  const samples = await interleaved(base, world, ctx, relay).finally(relay.close);
  const result: Record<string, unknown> = {};
  for (const k of ["copy50_direct_s", "copy50_proxy_s", "copy50_relay_s", "copy500_direct_s", "copy500_proxy_s", "copy500_relay_s", "run_warm_direct_s", "run_warm_proxy_s", "copy50_buildx_direct_s", "copy50_buildx_proxy_s", "copy50_proxy_cpu_s", "copy500_proxy_cpu_s", "copy50_relay_cpu_s", "copy500_relay_cpu_s", "copy50_proxy_major_gcs", "copy500_proxy_major_gcs"]) result[k] = round3(median(samples[k]!));
  for (const k of ["copy50", "copy500", "copy50_buildx"]) result[`${k}_ratio`] = round3((result[`${k}_proxy_s`] as number) / (result[`${k}_direct_s`] as number));
  for (const k of ["copy50", "copy500"]) result[`${k}_relay_ratio`] = round3((result[`${k}_relay_s`] as number) / (result[`${k}_direct_s`] as number));
  Object.assign(result, await measureWakes(world, ctx.run, base));
  process.stdout.write(`${JSON.stringify({ ...result, ...RUNTIME })}\n`);
} finally {
  await world?.close();
  await rm(base, { recursive: true, force: true });
}
process.exit(0);
