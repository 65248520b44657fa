// A satellite daemon that exits as it starts (a bad configuration, a missing file) is not waited
// for: the launch gives up within seconds, not after every health-check timeout of every retry,
// and the satellite is failed with what its daemon said.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultLimits, limitColumns } from "@satellites/catalog";
import type { Db } from "@satellites/db";
import { enqueue } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import { makeOrg } from "@satellites/testing";
import { jobsWorld, type JobsWorld } from "./harness.ts";

let db: Db;
let world: JobsWorld;

beforeAll(async () => {
  world = await jobsWorld({ LOCAL_SATELLITE_COMMAND: `sh -c 'echo "starting on port {port}"; echo "daemon: invalid configuration: unknown key \\"gckeepstorag\\"" >&2; exit 1'` });
  db = world.db;
  await world.start();
}, 60_000);
afterAll(async () => {
  await world?.close();
});

it("a daemon that exits at start fails the launch within seconds, with the end of its log as the reason", { timeout: 120_000 }, async () => {
  const org = await makeOrg(db);
  const { satellite } = await createSatellite(db, {
    orgId: org.id, name: "crashy", platform: "amd64", size: "small", provider: "local", actor: "user:alice", ...limitColumns(defaultLimits("small")),
  });
  const began = Date.now();
  await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await expect.poll(async () => (await db.satellite.findUniqueOrThrow({ where: { id: satellite.id } })).state, { timeout: 60_000, interval: 200 }).toBe("failed");
  const took = Date.now() - began;
  const sat = await db.satellite.findUniqueOrThrow({ where: { id: satellite.id } });
  expect(took).toBeLessThan(15_000);
  expect(sat.failureReason).toMatch(/^the satellite's process \(pid \d+\) exited on its own while starting; its log ends: .*starting on port \d+ \| daemon: invalid configuration: unknown key "gckeepstorag"$/);
  // Only this start's lines are quoted, though the log holds every attempt's.
  expect(sat.failureReason!.match(/starting on port/g)).toHaveLength(1);
  // Three tries (a start that crashes once may be bad luck), then the reason in the history. The
  // first try starts the daemon twice: the launch spawns it, the start finds it dead and respawns.
  const log = await readFile(path.join(world.dataDir, sat.instanceId!, "satellite.log"), "utf8");
  expect(log.match(/^--- \S+ starting: /gm)).toHaveLength(4);
  const failed = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: sat.id, to: "failed" } });
  expect(failed).toMatchObject({ from: "creating", cause: "failure", error: sat.failureReason, detail: { attempts: 3, job: "launch" } });
});
