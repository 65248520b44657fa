// npm run bench:wake — 1,000 callers across two proxy processes on one asleep local satellite
// (the jobs worker with the local provider does the real start). Overhead is the time a caller
// gets its answer minus the moment the health probe passed (the starting → awake commit, which
// the worker makes right after the probe). The last stdout line is one JSON object.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { requestDelete, requestSleep } from "@satellites/lifecycle";
import { createQueues, enqueue, redisConnection } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import { awakeSatellite, benchDatabase, freePort, httpOk, runJson, say, start, startBackendProcess, startProxyProcess, tenant, waitFor } from "./harness.ts";
import type { LoadOptions } from "./loadgen.ts";

const CALLERS = Number(process.env.BENCH_WAKE_CALLERS ?? 1000);
const WARMUP_BURSTS = Number(process.env.BENCH_WAKE_WARMUP ?? 3);

const bench = await benchDatabase();
const prefix = `satellites-bench-${randomBytes(3).toString("hex")}`;
const dataDir = mkdtempSync(join(tmpdir(), "satellites-bench-wake-"));
const redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const queues = createQueues(redis, prefix);
const cleanups: Array<() => Promise<void> | void> = [];
let satelliteId: string | undefined;
try {
  const env = { DATABASE_URL: bench.url, QUEUE_PREFIX: prefix, JOBS_QUEUE_PREFIX: prefix, LOG_LEVEL: "warn" };
  const jobsAdmin = await freePort();
  const jobs = start(process.execPath, ["--import", "tsx", "apps/jobs/src/main.ts"], {
    ...env,
    PROVIDER: "local",
    LOCAL_DATA_DIR: dataDir,
    JOBS_ADMIN_PORT: String(jobsAdmin),
    IDLE_SCAN_EVERY_MS: "3600000",
    RECONCILE_EVERY_MS: "3600000",
  }, "jobs");
  cleanups.push(() => jobs.stop());
  await waitFor("jobs worker", () => httpOk(`http://127.0.0.1:${jobsAdmin}/healthz`));
  const proxies = await Promise.all([startProxyProcess(env), startProxyProcess(env)]);
  cleanups.unshift(...proxies.map((p) => () => p.child.stop()));

  const { orgId, token } = await tenant(bench.db);
  // An always-awake satellite of the same tenant: the load generator warms up on it (through the
  // same proxies, long-running processes in production) before the storm on the sleeping one,
  // whose process starts cold as a stopped machine's does.
  const warmBackend = await startBackendProcess();
  cleanups.unshift(() => warmBackend.child.stop());
  const warmName = await awakeSatellite(bench.db, orgId, warmBackend.address);
  const state = async () => (await bench.db.satellite.findUniqueOrThrow({ where: { id: satelliteId! } })).state;
  const { satellite } = await createSatellite(bench.db, { orgId, name: "wake-bench", platform: "amd64", size: "small", provider: "local", actor: "system", limitMemoryMiB: 1024 });
  satelliteId = satellite.id;
  await enqueue(queues, "launch", { satelliteId, version: satellite.version });
  await waitFor("satellite launched", async () => (await state()) === "awake", 60_000);
  await requestSleep(bench.db, queues, await bench.db.satellite.findUniqueOrThrow({ where: { id: satelliteId } }), { cause: "manual", actor: "system" });
  await waitFor("satellite asleep", async () => (await state()) === "asleep", 60_000);
  const instanceId = (await bench.db.satellite.findUniqueOrThrow({ where: { id: satelliteId } })).instanceId!;
  const starts = () => readFileSync(join(dataDir, instanceId, "satellite.log"), "utf8").split("\n").filter((l) => l.startsWith("listening ")).length;
  const startsBefore = starts();
  say(`satellite asleep; ${CALLERS} callers over proxies :${proxies[0]!.port} and :${proxies[1]!.port}`);

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
  const r = await runJson<{ callers: number; statuses: Record<string, number>; doneAt: number[] }>(process.execPath, ["--import", "tsx", "bench/src/loadgen.ts", JSON.stringify(load)]);

  const woke = await bench.db.satelliteEvent.findFirstOrThrow({ where: { satelliteId, from: "starting", to: "awake" }, orderBy: { id: "desc" } });
  const wakeStarts = await bench.db.satelliteEvent.count({ where: { satelliteId, from: "asleep", to: "starting" } });
  const probePassedAt = woke.finishedAt.getTime();
  const overheads = r.doneAt.map((t) => t - probePassedAt).sort((a, b) => a - b);
  const pct = (p: number) => Math.round(overheads[Math.min(overheads.length - 1, Math.floor((p / 100) * overheads.length))]! * 10) / 10;
  const failed = r.callers - (r.statuses["0"] ?? 0);
  say(`statuses ${JSON.stringify(r.statuses)}; asleep→starting transitions ${wakeStarts}; wake took ${woke.durationMs} ms (start + health probe)`);
  const out = { callers: r.callers, provider_start_calls: starts() - startsBefore, failed_calls: failed, overhead_p50_ms: pct(50), overhead_p99_ms: pct(99) };
  say(`goals: 1 start (${out.provider_start_calls === 1 ? "met" : "NOT met"}), 0 failed (${failed === 0 ? "met" : "NOT met"}), p50 ≤ 50 ms (${out.overhead_p50_ms <= 50 ? "met" : "NOT met"})`);
  // Context for the overhead: the same burst sent straight (no proxy, no wake) to a satellite
  // process that has just started, as the woken one had, and to one that is warm.
  const direct = async (address: string, warmupTargets: string[]): Promise<number> => {
    const r = await runJson<{ started: number; doneAt: number[] }>(process.execPath, ["--import", "tsx", "bench/src/loadgen.ts", JSON.stringify({ ...load, target: address, targets: [address], metadata: {}, warmupMetadata: {}, warmupTargets })]);
    const ms = r.doneAt.map((t) => t - r.started).sort((a, b) => a - b);
    return Math.round(ms[Math.floor(ms.length / 2)]! * 10) / 10;
  };
  const cold = await startBackendProcess();
  const coldP50 = await direct(cold.address, [warmBackend.address]);
  await cold.child.stop();
  const upstream = (await bench.db.satellite.findUniqueOrThrow({ where: { id: satelliteId } })).upstream!;
  const warmP50 = await direct(upstream, [upstream]);
  say(`for comparison, the same ${CALLERS} calls sent straight to a satellite process that just started: p50 ${coldP50} ms after sending; to a warm one: p50 ${warmP50} ms`);
  process.stdout.write(`${JSON.stringify({ ...out, direct_cold_p50_ms: coldP50, direct_warm_p50_ms: warmP50 })}\n`);
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
  await bench.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
