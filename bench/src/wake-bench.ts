// npm run bench:wake — 1,000 callers across two proxy processes on one asleep local satellite
// (the jobs worker with the local provider does the real start). Overhead is the time a caller
// gets its answer minus the moment the health probe passed (the starting → awake commit, which
// the worker makes right after the probe). The last stdout line is one JSON object.
//
// The satellite sleeps and is stormed BENCH_WAKE_WARMUP_WAKES times (default 2) before the
// measured storm: the proxies are long-running processes in production, and the code that
// releases held calls is only compiled by V8 once it has run. The satellite's process starts
// cold every time. The first storm's p50 is reported too (first_wake_overhead_p50_ms).
//
// The storm runs twice, each time with its own jobs worker, proxies and satellite: on the
// built-in Node satellite (the embedded default; the JSON's main keys), then on a grpc-go
// satellite (the server BuildKit uses; keys go_*); BENCH_WAKE_GO=0 skips the second. After each,
// the satellite's own share is measured with no proxy: the same burst held by a stopped
// satellite process and let go at once (direct_cold_p50_ms on a just-started process,
// direct_warm_p50_ms on a warm one).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { requestDelete, requestSleep } from "@satellites/lifecycle";
import { createQueues, enqueue, liveLeases, redisConnection } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import { ensureGoSatellite } from "./go-satellite.ts";
import { awakeSatellite, benchDatabase, type BenchDb, cpuMs, freePort, httpOk, type Listening, runJson, RUNTIME, say, start, startBackendProcess, startListening, startProxyProcess, tenant, waitFor } from "./harness.ts";
import type { LoadOptions } from "./loadgen.ts";

const CALLERS = Number(process.env.BENCH_WAKE_CALLERS ?? 1000);
const WARMUP_BURSTS = Number(process.env.BENCH_WAKE_WARMUP ?? 3);
/** Unmeasured storms before the measured one (the proxies' warm-up). */
const WARMUP_WAKES = Number(process.env.BENCH_WAKE_WARMUP_WAKES ?? 2);

interface Storm {
  callers: number;
  provider_start_calls: number;
  failed_calls: number;
  overhead_p50_ms: number;
  overhead_p99_ms: number;
  /** The same overhead on the first storm, when the proxies had not yet released a wake. */
  first_wake_p50_ms: number;
  /** The satellite's own share: the same burst, no proxy, on a just-started and a warm process. */
  direct: { cold: number; warm: number };
}

/** What one storm (of the warm-ups or the measured one) saw. */
type Round = Pick<Storm, "callers" | "provider_start_calls" | "failed_calls" | "overhead_p50_ms" | "overhead_p99_ms">;

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

interface Satellite {
  label: string;
  /** LOCAL_SATELLITE_COMMAND (undefined: the built-in backend). */
  command?: string;
  /** Starts the same program outside the product, for the direct comparison. */
  fresh(): Promise<Listening>;
}

/** What one storm runs on: its own jobs worker, two proxies, a tenant, and the satellite stormed. */
interface World {
  bench: BenchDb;
  label: string;
  dataDir: string;
  redis: ReturnType<typeof redisConnection>;
  queues: ReturnType<typeof createQueues>;
  proxies: Awaited<ReturnType<typeof startProxyProcess>>[];
  /** The plaintext always-awake backend the direct runs warm up on. */
  warmBackend: Listening;
  load: LoadOptions;
  satelliteId: string;
  instanceId: string;
}

/** One storm on a satellite run by `satellite.command`. */
async function storm(bench: BenchDb, { label, command, fresh }: Satellite): Promise<Storm> {
  const prefix = `satellites-bench-${randomBytes(3).toString("hex")}`;
  const dataDir = mkdtempSync(join(tmpdir(), "satellites-bench-wake-"));
  const redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const queues = createQueues(redis, prefix);
  const cleanups: Array<() => Promise<void> | void> = [];
  let satelliteId: string | undefined;
  try {
    const world = await startWorld({ bench, label, prefix, dataDir, redis, queues, command }, cleanups, (id) => (satelliteId = id));
    // The first storms are the proxies' warm-up: a proxy in production is a long-running process
    // that has released many wakes, and the code that releases held calls is only compiled
    // once it has run. The satellite process starts cold every time, as a stopped machine's does.
    const rounds: Round[] = [];
    for (let round = 0; round <= WARMUP_WAKES; round++) rounds.push(await wakeRound(world, round === WARMUP_WAKES));
    const last = rounds.at(-1)!;
    say(`${label}: goals: 1 start (${last.provider_start_calls === 1 ? "met" : "NOT met"}), 0 failed (${last.failed_calls === 0 ? "met" : "NOT met"}), p50 ${last.overhead_p50_ms} ≤ 50 ms (${last.overhead_p50_ms <= 50 ? "met" : "NOT met"})`);
    return { ...last, first_wake_p50_ms: rounds[0]!.overhead_p50_ms, direct: await directShare(world, fresh) };
  } finally {
    if (satelliteId) {
      // Local satellites outlive the worker: terminate through it before it stops.
      const sat = await bench.db.satellite.findUnique({ where: { id: satelliteId } });
      if (sat) await requestDelete(bench.db, queues, sat, { actor: "system", force: true }).catch(() => {});
      await waitFor("satellite deleted", async () => (await bench.db.satellite.findUniqueOrThrow({ where: { id: satelliteId! } })).state === "deleted", 30_000).catch((err: Error) => say(err.message));
    }
    for (const c of cleanups) await c();
    await queues.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Starts the storm's processes and launches its satellite; each started process is added to `cleanups`. */
async function startWorld(
  w: Pick<World, "bench" | "label" | "dataDir" | "redis" | "queues"> & { prefix: string; command: string | undefined },
  cleanups: Array<() => Promise<void> | void>,
  launched: (satelliteId: string) => void,
): Promise<World> {
  const { bench, prefix } = w;
  const env = { DATABASE_URL: bench.url, QUEUE_PREFIX: prefix, JOBS_QUEUE_PREFIX: prefix, LOG_LEVEL: "warn" };
  const jobsAdmin = await freePort();
  const jobs = start(process.execPath, ["--import", "tsx", "apps/jobs/src/main.ts"], {
    ...env,
    PROVIDER: "local",
    LOCAL_DATA_DIR: w.dataDir,
    ...(w.command ? { LOCAL_SATELLITE_COMMAND: w.command } : {}),
    JOBS_ADMIN_PORT: String(jobsAdmin),
    IDLE_SCAN_EVERY_MS: "3600000",
    RECONCILE_EVERY_MS: "3600000",
  }, "jobs");
  cleanups.push(() => jobs.stop());
  await waitFor("jobs worker", () => httpOk(`http://127.0.0.1:${jobsAdmin}/healthz`));
  // At info level each proxy logs one line per wake it releases: its share of the timeline.
  const proxies = await Promise.all([startProxyProcess({ ...env, LOG_LEVEL: "info" }), startProxyProcess({ ...env, LOG_LEVEL: "info" })]);
  cleanups.unshift(...proxies.map((p) => () => p.child.stop()));

  const { orgId, token } = await tenant(bench.db);
  // An always-awake satellite of the same tenant: the load generator warms up on it (through the
  // same proxies, long-running processes in production) before the storm on the sleeping one,
  // whose process starts cold as a stopped machine's does.
  const warmBackend = await startBackendProcess();
  cleanups.unshift(() => warmBackend.child.stop());
  // Behind the proxies a satellite speaks mutual TLS; the plaintext one above serves direct warm-ups.
  const warmTls = await startBackendProcess({ tls: true });
  cleanups.unshift(() => warmTls.child.stop());
  const warmName = await awakeSatellite(bench.db, orgId, warmTls.address);
  const { satellite } = await createSatellite(bench.db, { orgId, name: "wake-bench", platform: "amd64", size: "small", provider: "local", actor: "system", limitMemoryMiB: 1024 });
  launched(satellite.id);
  await enqueue(w.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await waitFor("satellite launched", async () => (await bench.db.satellite.findUniqueOrThrow({ where: { id: satellite.id } })).state === "awake", 60_000);
  const instanceId = (await bench.db.satellite.findUniqueOrThrow({ where: { id: satellite.id } })).instanceId!;
  const load: LoadOptions = {
    target: `127.0.0.1:${proxies[0]!.port}`,
    targets: proxies.map((p) => `127.0.0.1:${p.port}`),
    mode: "wake",
    concurrency: CALLERS,
    connections: 4,
    deadlineMs: 60_000,
    metadata: { satellite_name: "wake-bench", satellite_org: orgId, satellite_token: token },
    warmupBursts: WARMUP_BURSTS,
    warmupMetadata: { satellite_name: warmName, satellite_org: orgId, satellite_token: token },
  };
  return { ...w, proxies, warmBackend, load, satelliteId: satellite.id, instanceId };
}

/** Puts the satellite to sleep and storms it once: starts, failures, and answers' times after the probe passed. */
async function wakeRound(w: World, measured: boolean): Promise<Round> {
  const { bench, label, satelliteId, proxies } = w;
  const state = async () => (await bench.db.satellite.findUniqueOrThrow({ where: { id: satelliteId } })).state;
  const starts = () => readFileSync(join(w.dataDir, w.instanceId, "satellite.log"), "utf8").split("\n").filter((l) => l.startsWith("listening ")).length;
  // The proxies keep a satellite's lease a few seconds after its last call (a build's next
  // call is usually close behind), and the sleep job keeps a leased satellite awake.
  await waitFor("the last storm's leases to lapse", async () => (await liveLeases(w.redis, satelliteId)) === 0, 60_000);
  await requestSleep(bench.db, w.queues, await bench.db.satellite.findUniqueOrThrow({ where: { id: satelliteId } }), { cause: "manual", actor: "system" });
  await waitFor("satellite asleep", async () => (await state()) === "asleep", 60_000);
  const startsBefore = starts();
  const wakesBefore = await bench.db.satelliteEvent.count({ where: { satelliteId, from: "asleep", to: "starting" } });
  say(`${label}: satellite asleep; ${CALLERS} callers over proxies :${proxies[0]!.port} and :${proxies[1]!.port}${measured ? "" : " (proxies' warm-up, not measured)"}`);
  const cpu = sampleCpu({ ...Object.fromEntries(proxies.map((p, i) => [`proxy ${i + 1}`, () => p.child.proc.pid])), satellite: () => satellitePid(w.dataDir, w.instanceId) });
  const r = await runJson<{ started: number; callers: number; statuses: Record<string, number>; doneAt: number[] }>(process.execPath, ["--import", "tsx", "bench/src/loadgen.ts", JSON.stringify(w.load)]).finally(() => cpu.stop());

  const woke = await bench.db.satelliteEvent.findFirstOrThrow({ where: { satelliteId, from: "starting", to: "awake" }, orderBy: { id: "desc" } });
  const wakeStarts = (await bench.db.satelliteEvent.count({ where: { satelliteId, from: "asleep", to: "starting" } })) - wakesBefore;
  const probePassedAt = woke.finishedAt.getTime();
  const overheads = r.doneAt.map((t) => t - probePassedAt).sort((a, b) => a - b);
  const pct = (p: number) => round1(overheads[Math.min(overheads.length - 1, Math.floor((p / 100) * overheads.length))]!);
  const failed = r.callers - (r.statuses["0"] ?? 0);
  say(`${label}: answers after the probe passed (ms): first ${pct(0)}, p10 ${pct(10)}, p50 ${pct(50)}, p90 ${pct(90)}, last ${pct(100)}`);
  say(`${label}: statuses ${JSON.stringify(r.statuses)}; asleep→starting transitions ${wakeStarts}; wake took ${woke.durationMs} ms (start + health probe)`);
  const began = await bench.db.satelliteEvent.findFirstOrThrow({ where: { satelliteId, from: "asleep", to: "starting" }, orderBy: { id: "desc" } });
  say(`${label}: timeline (ms from the probe passing): calls sent ${r.started - probePassedAt}, wake asked (starting committed) ${began.finishedAt.getTime() - probePassedAt}; ${releases(proxies.map((p) => p.child.stdout()), satelliteId)}; answers first ${pct(0)}, p50 ${pct(50)}`);
  say(`${label}: CPU used from the probe passing to the last answer (${pct(100)} ms on 2 vCPUs), ms: ${Object.entries(cpu.spent(probePassedAt, probePassedAt + overheads.at(-1)!)).map(([k, ms]) => `${k} ${ms}`).join(", ")} (/proc, 10 ms ticks)`);
  const done: Round = { callers: r.callers, provider_start_calls: starts() - startsBefore, failed_calls: failed, overhead_p50_ms: pct(50), overhead_p99_ms: pct(99) };
  if (!measured && (failed > 0 || done.provider_start_calls !== 1)) throw new Error(`${label}: warm-up storm had ${failed} failed calls and ${done.provider_start_calls} starts`);
  return done;
}

/**
 * The satellite's own share: the same burst sent straight (no proxy, no wake) to a satellite
 * process that is stopped (SIGSTOP) while the calls are sent, then continued, so it finds them
 * all at once, as a woken one does. Answer times count from the moment it is continued. Once on
 * a process that has just started (as the woken one had), once on one that has answered a few bursts.
 */
async function directShare(w: World, fresh: () => Promise<Listening>): Promise<Storm["direct"]> {
  const direct = async (sat: Listening, warmupTargets: string[]): Promise<number> => {
    const d = await runJson<{ started: number; doneAt: number[] }>(process.execPath, ["--import", "tsx", "bench/src/loadgen.ts", JSON.stringify({ ...w.load, target: sat.address, targets: [sat.address], metadata: {}, warmupMetadata: {}, warmupTargets, holdPid: sat.pid } satisfies LoadOptions)]);
    await sat.child.stop();
    const ms = d.doneAt.map((t) => t - d.started).sort((a, b) => a - b);
    return round1(ms[Math.floor(ms.length / 2)]!);
  };
  const cold = await direct(await fresh(), [w.warmBackend.address]);
  const warmSat = await fresh();
  const warm = await direct(warmSat, [warmSat.address]);
  say(`${w.label}: the satellite's own share: the same ${CALLERS} calls held by a satellite process and let go at once, no proxy: p50 ${cold} ms after release on one that just started, ${warm} ms on a warm one`);
  return { cold, warm };
}

/** The local satellite's process, from its instance's state file (undefined while it has none). */
function satellitePid(dataDir: string, instanceId: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(join(dataDir, instanceId, "state.json"), "utf8")) as { pid: number | null }).pid ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU time of named processes, sampled every 5 ms while a storm runs, so the bench can say what
 * each spent between two moments (the probe passing and the last answer): on two vCPUs, whether
 * the wake's tail is waiting or computing.
 */
function sampleCpu(pids: Record<string, () => number | undefined>) {
  const samples: Array<{ t: number; ms: Record<string, number> }> = [];
  const tick = (): void => {
    const ms: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) {
      const p = pid();
      if (p === undefined) continue;
      try {
        ms[name] = cpuMs(p);
      } catch {
        // gone (or not yet started): no sample
      }
    }
    samples.push({ t: Date.now(), ms });
  };
  const timer = setInterval(tick, 5);
  return {
    stop(): void {
      clearInterval(timer);
      tick();
    },
    /** CPU ms each process used from `from` to `to` (between the samples just outside them). */
    spent(from: number, to: number): Record<string, number> {
      const before = samples.filter((x) => x.t <= from).at(-1) ?? samples[0];
      const after = samples.find((x) => x.t >= to) ?? samples.at(-1);
      if (!before || !after) return {};
      return Object.fromEntries(Object.keys(pids).map((name) => [name, round1((after.ms[name] ?? 0) - (before.ms[name] ?? 0))]));
    },
  };
}

/** Each proxy's latest wake release for the satellite (its log line), as the timeline shows it. */
function releases(outputs: string[], satelliteId: string): string {
  return outputs
    .map((out, i) => {
      const line = out
        .split("\n")
        .reverse()
        .map((l) => {
          try {
            return JSON.parse(l) as { msg?: string; satellite?: string; heardMs?: number; connectedMs?: number; forwardedMs?: number };
          } catch {
            return undefined;
          }
        })
        .find((l) => l?.msg === "wake released the calls held for it" && l.satellite === satelliteId);
      return line ? `proxy ${i + 1} heard ${line.heardMs}, connected ${line.connectedMs}, forwarded ${line.forwardedMs}` : `proxy ${i + 1} released nothing`;
    })
    .join("; ");
}

/** The JSON keys of one storm (the issue's names; `go_` for the grpc-go satellite). */
function keys(s: Storm, prefix: string): Record<string, number> {
  const k: Record<string, number> = {
    callers: s.callers,
    provider_start_calls: s.provider_start_calls,
    failed_calls: s.failed_calls,
    overhead_p50_ms: s.overhead_p50_ms,
    overhead_p99_ms: s.overhead_p99_ms,
    first_wake_overhead_p50_ms: s.first_wake_p50_ms,
    direct_cold_p50_ms: s.direct.cold,
    direct_warm_p50_ms: s.direct.warm,
  };
  // `callers` once: both storms have the same.
  if (prefix) delete k.callers;
  return Object.fromEntries(Object.entries(k).map(([key, v]) => [prefix + key, v]));
}

const bench = await benchDatabase();
try {
  const node = await storm(bench, {
    label: "node satellite",
    fresh: () => startBackendProcess(),
  });
  const result: Record<string, number> = keys(node, "");
  if (process.env.BENCH_WAKE_GO !== "0") {
    const bin = ensureGoSatellite();
    const go = await storm(bench, {
      label: "grpc-go satellite",
      command: `${bin} --host {host} --port {port} --tls-ca {tlsCa} --tls-cert {tlsCert} --tls-key {tlsKey}`,
      fresh: () => startListening(bin, ["--host", "127.0.0.1", "--port", "0"], "go satellite"),
    });
    Object.assign(result, keys(go, "go_"));
  }
  process.stdout.write(`${JSON.stringify({ ...result, ...RUNTIME })}\n`);
} finally {
  await bench.drop();
}
process.exit(0);
