// OOM kills in a satellite's history, through two real jobs processes watching one BuildKit
// satellite (LOCAL_BUILDKITD): a RUN step that allocates past the memory limit is killed by the
// kernel; the history then holds exactly one "memory" event — however many processes read the
// kill from the kernel log — naming the process, the limit and the build that was running; a
// second kill adds one more.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Db } from "@satellites/db";
import { type MemoryKillDetail } from "@satellites/state";
import { makeOrg } from "@satellites/testing";
import { requirePeer } from "@satellites/testing/peers";
import { type BuildctlClient, buildctlClient } from "./buildctl-client.ts";
import { jobsWorld, launchAwake, type JobsWorld } from "./harness.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let db: Db;
let world: JobsWorld;
let buildctl = "";
let base = "";
let client: BuildctlClient;

beforeAll(async () => {
  if (!isRoot) return;
  buildctl = requirePeer("buildkit", "buildctl");
  world = await jobsWorld({ LOCAL_BUILDKITD: requirePeer("buildkit", "buildkitd") });
  db = world.db;
  // Two jobs processes: both watch the satellite and both read its OOM kills.
  await world.start();
  await world.start();
  client = await buildctlClient("oom-bk-", "memory kills test");
  base = client.dir;
  await mkdir(path.join(base, "ctx"));
  await copyFile("/usr/bin/busybox", path.join(base, "ctx", "busybox"));
  // dd fills a 400 MiB buffer, against a 256 MiB limit with no swap.
  await writeFile(path.join(base, "ctx", "Dockerfile"), 'FROM scratch\nCOPY busybox /bin/busybox\nARG N\nRUN ["/bin/busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=400M", "count=1"]\n');
}, 90_000);
afterAll(async () => {
  await world?.close();
  if (base) await rm(base, { recursive: true, force: true });
});

const state = (id: string) => db.satellite.findUniqueOrThrow({ where: { id } });
const memoryEvents = (id: string) => db.satelliteEvent.findMany({ where: { satelliteId: id, cause: "memory" }, orderBy: { id: "asc" } });

/** A build whose RUN step is killed for memory; `n` makes each one a new step (no cache hit). */
async function hogBuild(upstream: string, satelliteId: string, n: number): Promise<string> {
  const r = await run(buildctl, [
    ...client.flags(upstream, satelliteId),
    "build", "--frontend", "dockerfile.v0", "--opt", `build-arg:N=${n}`, "--local", `context=${path.join(base, "ctx")}`, "--local", `dockerfile=${path.join(base, "ctx")}`,
  ], { maxBuffer: 16 << 20 }).then(() => "", (err: { stderr?: string }) => err.stderr ?? String(err));
  return r;
}

it.runIf(isRoot)("a RUN step killed for memory shows once in the history, naming the limit and the running build", { timeout: 240_000 }, async () => {
  const org = await makeOrg(db);
  const sat = await launchAwake(world, { orgId: org.id, name: "oom", limits: { memoryMiB: 256, swapMiB: 0, oomScoreAdj: -500 } });
  expect(await memoryEvents(sat.id)).toEqual([]);

  // A build as a proxy records it while it runs.
  const buildId = randomUUID();
  const started = Date.now();
  await db.build.create({ data: { id: buildId, orgId: org.id, satelliteId: sat.id, actor: "token:t", client: "buildctl", startedAt: new Date(started), replica: "proxy-x", seenAt: new Date() } });
  const failed = await hogBuild(sat.upstream!, sat.id, 1);
  expect(failed).toMatch(/exit code: 137|signal: killed/i);
  const ended = Date.now();
  await db.build.update({ where: { id: buildId }, data: { endedAt: new Date(ended), durationMs: 1, grpcCode: 2 } });

  await expect.poll(async () => (await memoryEvents(sat.id)).length, { timeout: 15_000 }).toBe(1);
  // Both processes have had several polls to report the same count: still one event.
  await sleep(3000);
  const events = await memoryEvents(sat.id);
  expect(events).toHaveLength(1);
  const first = events[0]!;
  expect(first).toMatchObject({ from: "awake", to: "awake", cause: "memory", actor: "system", error: null });
  const detail = first.detail as unknown as MemoryKillDetail;
  expect(detail).toMatchObject({ memory: "oom_kill", kills: 1, processes: ["busybox"], limitMiB: 256, hostWide: false, builds: [buildId] });
  expect(detail.killIds).toHaveLength(1);
  // Placed in the history when the kernel killed it, during the build (the kernel's clock is
  // turned into wall time from the uptime: allow for a little drift).
  expect(first.finishedAt.getTime()).toBeGreaterThan(started - 1000);
  expect(first.finishedAt.getTime()).toBeLessThan(ended + 1000);
  // The daemon survived its step (its OOM score is far below the step's): still awake, still serving.
  expect((await state(sat.id)).state).toBe("awake");

  // A second kill, no build recorded (and the first ended well before): one more event, counting
  // only the new kill(s).
  await sleep(Math.max(0, ended + 6000 - Date.now()));
  const again = await hogBuild(sat.upstream!, sat.id, 2);
  expect(again).toMatch(/exit code: 137|signal: killed/i);
  await expect.poll(async () => (await memoryEvents(sat.id)).length, { timeout: 15_000 }).toBe(2);
  await sleep(2000);
  const both = await memoryEvents(sat.id);
  expect(both).toHaveLength(2);
  const second = both[1]!.detail as unknown as MemoryKillDetail;
  expect(second).toMatchObject({ kills: 1, processes: ["busybox"], builds: [] });
  expect(second.killIds).not.toContain(detail.killIds[0]);
});
