// npm run bench:earthly — the real Earthly CLI building the same target (50 MB context file,
// a RUN over it, the artifacts saved locally) straight against Earthly's buildkitd and through
// the proxy to a local satellite running the same daemon, interleaved run by run; then from an
// asleep satellite; then ReserveSatellite on an awake one. The big file is new for every run so
// each build sends and receives it (no cache hit). The last stdout line is one JSON object.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadEarthlyServices } from "@satellites/earthly-api/proto";
import { loadOrCreateCa, satelliteServerName } from "@satellites/pki";
import { liveLeases, redisConnection } from "@satellites/queue";
import { requirePeer } from "@satellites/testing/peers";
import { issueLoginToken } from "@satellites/tokens";
import { earthlyDirectDaemonArgs, earthlyProject, earthlyWorld, SATELLITE_HOST } from "../../apps/proxy/test/earthly-world.ts";
import { spawnConfined } from "./confined.ts";
import { benchDatabase, freePort, RUNTIME, say, waitFor } from "./harness.ts";
import { startTlsRelayWith } from "./tls-relay.ts";

const RUNS = Number(process.env.BENCH_EARTHLY_RUNS ?? 3);
const ASLEEP_RUNS = Number(process.env.BENCH_EARTHLY_ASLEEP_RUNS ?? 3);
const RESERVES = Number(process.env.BENCH_EARTHLY_RESERVES ?? 50);
/** The context file (MB), new for every build. */
const SIZE = Number(process.env.BENCH_EARTHLY_MB ?? 50) * 1024 * 1024;

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

type World = Awaited<ReturnType<typeof earthlyWorld>>;
/** The ways a build reaches a daemon, measured interleaved. */
type Way = "direct" | "proxied" | "relayed" | "confined";
const WAYS: Way[] = ["direct", "proxied", "relayed", "confined"];
/** One build: its wall time in s; its phases go to `into` when given. */
type Build = (into?: Phases[]) => Promise<number>;

async function main(): Promise<void> {
  const w = await earthlyWorld({ database: benchDatabase });
  const redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const port = await freePort();
  const root = mkdtempSync(path.join(tmpdir(), "bench-direct-buildkit-"));
  // Its build steps networked as a satellite's are (a namespace each, on a bridge of its own).
  const daemon = spawn(requirePeer("earthly-buildkit", "buildkitd"), ["--addr", `tcp://${SATELLITE_HOST}:${port}`, "--root", root, ...earthlyDirectDaemonArgs(root, port)], { stdio: "ignore" });
  const dir = mkdtempSync(path.join(tmpdir(), "bench-earthly-"));
  try {
    earthlyProject(path.join(dir, "project"), randomBytes(SIZE));
    const launched = await w.earthly(["sat", "launch", "--size", "small", "bench"]);
    if (launched.code !== 0) throw new Error(`launch failed: ${launched.out}`);
    const sat = () => w.db.satellite.findFirstOrThrow({ where: { orgId: w.org.id, name: "bench" } });
    await waitFor("bench awake", async () => (await sat()).state === "awake", 60_000);
    const satellite = await sat();
    // The satellite's own daemon (run by the local provider, in its cgroup) reached through a
    // bare relay instead of the proxy: what is left of the gap is the proxy's share. The daemon
    // takes mutual TLS only, so the relay opens the hop's TLS as the proxy does and copies bytes.
    // (On the satellite host address: the CLI will not dial 127.0.0.1 as remote.)
    const relay = await startTlsRelayWith(satellite.upstream!, { ...(await loadOrCreateCa(w.caDir).then((ca) => ca.issueClient("bench relay"))), servername: satelliteServerName(satellite.id) }, SATELLITE_HOST);
    const confined = await startConfinedDaemon(satellite);
    const timed = builder(w, dir);
    const host = (p: number) => ["--buildkit-host", `tcp://${SATELLITE_HOST}:${p}`, "+build"];
    const ways: Record<Way, Build> = {
      direct: (into) => timed(host(port), into),
      proxied: (into) => timed(["--sat", "bench", "+build"], into),
      relayed: (into) => timed(host(relay.port), into),
      // The same daemon with the satellite's settings, confined as the local provider confines it.
      confined: (into) => timed(host(confined.port), into),
    };
    const phases: Record<Way | "asleep", Phases[]> = { direct: [], proxied: [], relayed: [], confined: [], asleep: [] };
    const times = await interleaved(ways, phases);
    await relay.close();
    await confined.stop();
    const asleep = await fromAsleep(w, redis, sat, () => ways.proxied(phases.asleep));
    const reserves = await reserveTimes(w, satellite.name);
    process.stdout.write(`${JSON.stringify({ ...resultOf(times, asleep, reserves, phases), ...RUNTIME })}\n`);
  } finally {
    daemon.kill("SIGTERM");
    redis.disconnect();
    await w.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Builds the project with a new big file, timed from the CLI's start to its exit. One home per
 * way (direct or --sat), kept across runs as a user's is: the CLI reuses its cached login
 * (~/.earthly/auth.jwt) instead of logging in before every build.
 */
function builder(w: World, dir: string): (args: string[], into?: Phases[]) => Promise<number> {
  const homes = { direct: path.join(dir, "home-direct"), proxied: path.join(dir, "home-proxied") };
  return async (args, into) => {
    writeFileSync(path.join(dir, "project/files/big.bin"), randomBytes(SIZE));
    rmSync(path.join(dir, "project/out"), { recursive: true, force: true });
    const t = performance.now();
    const proxied = args[0] === "--sat";
    const r = await w.earthly(args, { cwd: path.join(dir, "project"), timeoutMs: 300_000, home: proxied ? homes.proxied : homes.direct, env: { EARTHLY_TOKEN: proxied ? w.member.apiToken : "" } });
    const s = (performance.now() - t) / 1000;
    if (r.code !== 0) throw new Error(`earthly ${args.join(" ")} failed: ${r.out.slice(-3000)}`);
    into?.push(phasesOf(r.lines, s * 1000));
    return s;
  };
}

/** Earthly's buildkitd with the satellite's settings, confined as the local provider confines the satellite (its CPU quota and memory limit, a cgroup of its own). */
async function startConfinedDaemon(satellite: { limitCpuPercent: number; limitMemoryMiB: number; limitDiskGiB: number }): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const root = mkdtempSync(path.join(tmpdir(), "bench-confined-buildkit-"));
  const confined = spawnConfined(
    `satellites-bench-confined-${process.pid}`,
    { cpuQuotaUs: Math.round((satellite.limitCpuPercent / 100) * cpus().length * 100_000), memoryBytes: satellite.limitMemoryMiB * 1024 * 1024 },
    requirePeer("earthly-buildkit", "buildkitd"),
    ["--addr", `tcp://${SATELLITE_HOST}:${port}`, "--root", path.join(root, "root"), ...earthlyDirectDaemonArgs(root, port), "--oci-worker-gc-keepstorage", String(satellite.limitDiskGiB * 1024)],
    { BUILDKIT_STEP_LOG_MAX_SIZE: "8388608" },
  );
  return {
    port,
    async stop() {
      confined.child.kill("SIGTERM");
      await new Promise((r) => confined.child.once("exit", r));
      confined.remove();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** One warm-up build each way, then RUNS rounds of one build each way, the order rotated. */
async function interleaved(ways: Record<Way, Build>, phases: Record<Way, Phases[]>): Promise<Record<Way, number[]>> {
  say("warm-up: one build each way");
  for (const way of WAYS) await ways[way]();
  const times: Record<Way, number[]> = { direct: [], proxied: [], relayed: [], confined: [] };
  for (let i = 0; i < RUNS; i++) {
    // Rotate which goes first so none always follows another's cache and page-cache state.
    for (let k = 0; k < WAYS.length; k++) {
      const way = WAYS[(i + k) % WAYS.length]!;
      times[way].push(await ways[way](phases[way]));
    }
    const t = (way: Way) => times[way].at(-1)!.toFixed(2);
    say(`run ${i + 1}/${RUNS}: direct ${t("direct")} s, proxied ${t("proxied")} s, satellite through a bare relay ${t("relayed")} s, direct to a daemon confined as the satellite ${t("confined")} s (load ${loadavg()[0]!.toFixed(1)})`);
    say(`  phases (ms) direct ${JSON.stringify(phases.direct.at(-1))} proxied ${JSON.stringify(phases.proxied.at(-1))} relayed ${JSON.stringify(phases.relayed.at(-1))} confined ${JSON.stringify(phases.confined.at(-1))}`);
  }
  return times;
}

/** ASLEEP_RUNS proxied builds, each right after `earthly sat sleep`. */
async function fromAsleep(w: World, redis: ReturnType<typeof redisConnection>, sat: () => Promise<{ id: string }>, proxied: () => Promise<number>): Promise<number[]> {
  const asleep: number[] = [];
  for (let i = 0; i < ASLEEP_RUNS; i++) {
    const id = (await sat()).id;
    await waitFor("bench not in use", async () => (await liveLeases(redis, id)) === 0, 30_000);
    const slept = await w.earthly(["sat", "sleep", "bench"]);
    if (slept.code !== 0) throw new Error(`sleep failed: ${slept.out}`);
    asleep.push(await proxied());
    say(`from asleep ${i + 1}/${ASLEEP_RUNS}: ${asleep.at(-1)!.toFixed(2)} s`);
  }
  return asleep;
}

/** ReserveSatellite on the awake satellite, as the CLI sends it before every build: RESERVES times (ms), after 10 unmeasured. */
async function reserveTimes(w: World, name: string): Promise<number[]> {
  const row = await w.db.apiToken.findUniqueOrThrow({ where: { id: w.member.apiTokenId } });
  const { token } = await issueLoginToken(w.db, row);
  const { Compute } = loadEarthlyServices();
  const client = new Compute(`127.0.0.1:${w.apiPort}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  const reserve = () =>
    new Promise<number>((resolve, reject) => {
      const t = performance.now();
      const call = (client as unknown as Record<string, (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<unknown>>).ReserveSatellite!({ org_id: w.org.id, name, metadata: { cli_version: "v0.8.14" } }, md);
      call.on("data", () => {});
      call.on("error", reject);
      call.on("end", () => resolve(performance.now() - t));
    });
  try {
    for (let i = 0; i < 10; i++) await reserve();
    const reserves: number[] = [];
    for (let i = 0; i < RESERVES; i++) reserves.push(await reserve());
    return reserves;
  } finally {
    client.close();
  }
}

function resultOf(times: Record<Way, number[]>, asleep: number[], reserves: number[], phases: Record<Way | "asleep", Phases[]>) {
  const m = (way: Way) => median(times[way]);
  return {
    earthly_build_direct_s: round(m("direct"), 3),
    earthly_build_proxy_s: round(m("proxied"), 3),
    earthly_build_asleep_s: round(median(asleep), 3),
    earthly_reserve_ms: round(median(reserves), 2),
    earthly_build_relay_s: round(m("relayed"), 3),
    earthly_build_direct_confined_s: round(m("confined"), 3),
    proxy_over_direct: round(m("proxied") / m("direct"), 3),
    // Against the same daemon confined as the satellite is: what the proxy and the CLI's cloud calls add.
    proxy_over_direct_confined: round(m("proxied") / m("confined"), 3),
    // Medians per phase: before the CLI dials BuildKit (its cloud calls, for --sat), its BuildKit probe, the build.
    earthly_direct_phases_ms: medianPhases(phases.direct),
    earthly_proxy_phases_ms: medianPhases(phases.proxied),
    earthly_relay_phases_ms: medianPhases(phases.relayed),
    earthly_confined_phases_ms: medianPhases(phases.confined),
    earthly_asleep_phases_ms: medianPhases(phases.asleep),
    load_average: loadavg().map((x) => round(x, 1)),
    runs: RUNS,
    asleep_runs: ASLEEP_RUNS,
    reserves: RESERVES,
    context_mb: SIZE / (1024 * 1024),
  };
}

/** Where one build spent its time, from when the CLI printed its lines. */
interface Phases {
  /** Start to "Connecting to …": the CLI's start and, with --sat, its cloud calls (logins, organizations, GetSatellite, ReserveSatellite). */
  before_connect: number;
  /** "Connecting to …" to "...Done": the CLI's BuildKit probe (it waits 1 s before its first try). */
  connect: number;
  /** "...Done" to exit: the build itself. */
  build: number;
}

function phasesOf(lines: { ms: number; text: string }[], totalMs: number): Phases {
  const connecting = lines.find((l) => /Connecting to /.test(l.text))?.ms ?? NaN;
  const connected = lines.find((l) => l.ms >= connecting && /\.\.\.Done/.test(l.text))?.ms ?? NaN;
  return { before_connect: Math.round(connecting), connect: Math.round(connected - connecting), build: Math.round(totalMs - connected) };
}

function medianPhases(xs: Phases[]): Phases | undefined {
  if (!xs.length) return undefined;
  return { before_connect: median(xs.map((x) => x.before_connect)), connect: median(xs.map((x) => x.connect)), build: median(xs.map((x) => x.build)) };
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:earthly failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
