// A satellite that runs for a long time and writes a lot cannot fill the host's disk: the jobs
// worker's reconcile pass rotates a local satellite's log while it keeps running
// (LOCAL_SATELLITE_LOG_MAX_MIB), without restarting it or disturbing its state.
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { probeHealth } from "@satellites/backend/probe";
import { fixtureHopProbe } from "@satellites/testing/satellite-tls";
import { makeOrg } from "@satellites/testing";
import { jobsWorld, launchAwake, TINY_HEALTH, type JobsWorld } from "./harness.ts";

let world: JobsWorld;
beforeAll(async () => {
  // 3 MiB of output at start, then a health server: past the 1 MiB limit from the first pass.
  world = await jobsWorld({
    LOCAL_SATELLITE_LOG_MAX_MIB: "1",
    LOCAL_SATELLITE_COMMAND: `head -c 3145728 /dev/zero | tr '\\0' x; echo; exec ${TINY_HEALTH}`,
  });
  await world.start();
});
afterAll(async () => {
  await world?.close();
});

it("rotates a running local satellite's log on the reconcile pass; the satellite keeps serving", async () => {
  const db = world.db;
  const org = await makeOrg(db);
  const sat = await launchAwake(world, { orgId: org.id, name: "chatty", platform: "arm64" }, 30_000);
  const dir = path.join(world.dataDir, sat.instanceId!);
  const pid = JSON.parse(readFileSync(path.join(dir, "state.json"), "utf8")).pid as number;

  // Reconcile runs every 2 s in the test world; the note is the rotation's last step.
  const log = path.join(dir, "satellite.log");
  await expect.poll(() => existsSync(log) && readFileSync(log, "utf8").includes("the earlier part is in satellite.log.1"), { timeout: 15_000 }).toBe(true);
  // The older file holds the output up to the last whole block; the rest stays in the live one.
  expect(statSync(`${log}.1`).size).toBeGreaterThan(3 * 1024 * 1024 - 4096);
  expect(statSync(`${log}.1`).size + statSync(log).size).toBeGreaterThan(3 * 1024 * 1024);
  expect(statSync(log).size).toBeLessThan(64 * 1024);

  // Same process, same state, still serving.
  expect(JSON.parse(readFileSync(path.join(dir, "state.json"), "utf8")).pid).toBe(pid);
  expect(await probeHealth(sat.upstream!, { timeoutMs: 2000, ...(await fixtureHopProbe(sat.id)) })).toBe("SERVING");
  const now = await db.satellite.findUniqueOrThrow({ where: { id: sat.id } });
  expect(now.state).toBe("awake");
  expect(await db.satelliteEvent.count({ where: { satelliteId: sat.id, cause: "reconcile" } })).toBe(0);
});
