// OOM kills on an EC2 satellite, through the real AWS SDK against the emulator and two real jobs
// processes (one scheduled pass over the consoles between them): the instance's console gets a kill's line (what user-data's OOM watch writes, as
// packages/provider/test/ec2-memory-kills.test.ts shows for a real kernel) while a build runs;
// the satellite's history then holds exactly one "memory" event naming the process, the limit
// and the build, and the satellite stays awake.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Emulator } from "@satellites/ec2-emulator";
import type { Db } from "@satellites/db";
import { memoryKillNote, type MemoryKillDetail } from "@satellites/state";
import { makeOrg } from "@satellites/testing";
import { ec2World } from "./ec2-world.ts";
import { launchAwake, TINY_HEALTH, type JobsWorld } from "./harness.ts";

let db: Db;
let emu: Emulator;
let world: JobsWorld;
let dir = "";
const boot = randomUUID();
/** A kill's line as the watch writes it; `origin`: the wall-clock ms at which the log's clock read 0. */
const line = (origin: number, seq: number, memcg: string, task: string) =>
  `satellites: oom-kill ${boot} ${origin} 256 6,${seq},100500000,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=${memcg},task_memcg=${memcg}/k${seq},task=${task},pid=${seq},uid=0`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "oom-ec2-"));
  // The machine serves health at once and, when the test says so, writes to its console what
  // the OOM watch would.
  const machine = ["sh", "-c", '(while [ ! -s "$0" ]; do sleep 0.1; done; cat "$0") & exec "$@"', path.join(dir, "kills"), ...TINY_HEALTH.split(" ")];
  ({ emu, world } = await ec2World({ command: machine, env: { EC2_OOM_WATCH_SECONDS: "1" } }));
  db = world.db;
  // Two jobs processes, one schedule between them: each pass re-reads the kill (its console
  // keeps it), whichever process runs it.
  await world.start();
  await world.start();
}, 60_000);
afterAll(async () => {
  await world?.close();
  await emu?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const memoryEvents = (id: string) => db.satelliteEvent.findMany({ where: { satelliteId: id, cause: "memory" }, orderBy: { id: "asc" } });

it("a kill on the instance's console shows once in the history, naming the limit and the running build", { timeout: 90_000 }, async () => {
  const org = await makeOrg(db);
  const satellite = await launchAwake(world, { orgId: org.id, name: "oom-ec2", hibernate: true, limits: { memoryMiB: 256 } }, 30_000);
  const buildId = randomUUID();
  await db.build.create({ data: { id: buildId, orgId: org.id, satelliteId: satellite.id, actor: "token:t", client: "buildctl", startedAt: new Date(), replica: "proxy-x", seenAt: new Date() } });
  // During the build, a step is killed at the slice's limit (and another unit's process at its
  // own: not the satellite's). The kernel's clock started 98 s ago: the kill, 100.5 s into it,
  // is 2.5 s from now, after the build started.
  const origin = Date.now() - 98_000;
  await writeFile(path.join(dir, "kills"), `${line(origin, 812, "/satellite.slice", "busybox")}\n${line(origin, 813, "/system.slice/other.service", "other")}\n`);

  await expect.poll(async () => (await memoryEvents(satellite.id)).length, { timeout: 30_000, interval: 200 }).toBe(1);
  // Passes have read the console several times since: still one event.
  await sleep(3000);
  const events = await memoryEvents(satellite.id);
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ from: "awake", to: "awake", cause: "memory", actor: "system", error: null });
  const detail = events[0]!.detail as unknown as MemoryKillDetail;
  expect(detail).toMatchObject({ memory: "oom_kill", kills: 1, killIds: [`${boot}:812`], processes: ["busybox"], limitMiB: 256, hostWide: false, builds: [buildId] });
  expect(memoryKillNote(detail)).toBe("Out of memory: killed busybox, at the 256 MiB memory limit during a build");
  // At the kernel's time for it (the clock's origin plus the record's time), not when it was read.
  expect(events[0]!.finishedAt.getTime()).toBe(origin + 100_500);
  expect((await db.satellite.findUniqueOrThrow({ where: { id: satellite.id } })).state).toBe("awake");
});
