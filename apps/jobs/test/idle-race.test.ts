// A build stream opening while the idle scan decides: real processes on every side — the jobs
// worker (idle scan every 100 ms, sleep job), a "proxy" process opening streams at random
// moments by the lease protocol, and the satellites' own processes. No satellite that got a
// stream may be stopped under it.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultLimits, limitColumns } from "@satellites/catalog";
import { probeHealth } from "@satellites/backend/probe";
import { fixtureHopProbe } from "@satellites/testing/satellite-tls";
import { createLocalProvider } from "@satellites/provider";
import { enqueue } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import type { Db } from "@satellites/db";
import { makeOrg } from "@satellites/testing";
import { jobsWorld, type JobsWorld, type JobsProcess, TINY_HEALTH } from "./harness.ts";

const N = 30;
let db: Db;
let world: JobsWorld;
let worker: JobsProcess;
beforeAll(async () => {
  world = await jobsWorld({ IDLE_SCAN_EVERY_MS: "100", LOCAL_SATELLITE_COMMAND: TINY_HEALTH });
  db = world.db;
  worker = await world.start();
});
afterAll(async () => {
  await world?.close();
});

it("a stream lease appearing during the idle decision keeps its satellite awake", { timeout: 120_000 }, async () => {
  const org = await makeOrg(db, "race");
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const { satellite } = await createSatellite(db, { orgId: org.id, name: `race-${i}`, platform: "arm64", size: "xsmall", provider: "local", actor: "system", ...limitColumns(defaultLimits("xsmall")) });
    await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
    ids.push(satellite.id);
  }
  await expect.poll(() => db.satellite.count({ where: { id: { in: ids }, state: "awake" } }), { timeout: 60_000 }).toBe(N);

  const opener = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./fixtures/stream-opener.ts", import.meta.url))], {
    env: { ...world.env, SATELLITE_IDS: JSON.stringify(ids), WINDOW_MS: "400", LATE_WINDOW_MS: "4000" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: opener.stdout! })[Symbol.asyncIterator]();
  expect((await lines.next()).value).toBe("ready");
  // Streams open at random moments: two thirds over the next 0.4 s — before the satellites go
  // idle (0.1 s in), before the scan, between the scan and the stop, and after — the rest
  // within 4 s, when most have slept.
  opener.stdin!.write("go\n");
  await new Promise((r) => setTimeout(r, 100));
  await db.satellite.updateMany({ where: { id: { in: ids } }, data: { idleTimeoutSeconds: 60, lastActivityAt: new Date(Date.now() - 3600_000) } });
  expect((await lines.next()).value).toBe("opened");
  // Let every sleep that was decided finish.
  await expect.poll(() => db.satellite.count({ where: { id: { in: ids }, state: { in: ["stopping", "starting"] } } }), { timeout: 30_000 }).toBe(0);
  await new Promise((r) => setTimeout(r, 1000));
  opener.kill("SIGTERM");
  const streamed = JSON.parse((await lines.next()).value as string) as string[];

  const provider = createLocalProvider({ dataDir: world.dataDir, cgroupParent: world.cgroupParent });
  for (const id of streamed) {
    const sat = await db.satellite.findUniqueOrThrow({ where: { id } });
    expect(sat.state, `satellite ${id} was streamed to`).toBe("awake");
    expect((await provider.describe(sat.instanceId!)).state).toBe("running");
    expect(await probeHealth(sat.upstream!, { timeoutMs: 3000, ...(await fixtureHopProbe(sat.id)) })).toBe("SERVING");
  }
  const asleep = await db.satellite.count({ where: { id: { in: ids }, state: "asleep" } });
  const keptAwake = await db.satelliteEvent.count({ where: { satelliteId: { in: ids }, from: "stopping", to: "awake" } });
  console.log(`idle race: ${streamed.length} streamed (all still awake), ${asleep} slept, ${keptAwake} stops aborted by a late lease`);
  // The race really happened: some slept before their stream, some streams won.
  expect(streamed.length).toBeGreaterThan(0);
  expect(asleep).toBeGreaterThan(0);
  await worker.stop();
});
