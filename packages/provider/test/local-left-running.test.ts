// What `npm start` says as it stops: the local satellites whose processes outlive it (running or
// frozen asleep), read from the provider's data dir with real processes; stopped ones are not named.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createLocalProvider, type LocalProvider } from "../src/local.ts";
import { localSatellitesLeft } from "../src/local-left-running.ts";
import type { LaunchSpec } from "../src/types.ts";

const spec = (name: string): LaunchSpec => ({
  satelliteId: `id-${name}`,
  orgId: "org-1",
  name,
  platform: "amd64",
  size: "small",
  limits: { cpuPercent: 50, memoryMiB: 512, swapMiB: 128, diskGiB: 20, oomScoreAdj: 300, idleTimeoutSeconds: 60 },
  hibernate: true,
});

let dataDir: string;
const providerAt = (dir: string): LocalProvider => createLocalProvider({ dataDir: dir, cgroupParent: `satellites-test-left-${process.pid}`, portRange: [23300, 23349], stopGraceMs: 5000 });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "local-left-"));
});

afterAll(async () => {
  // The next worker takes them over; here, to end them.
  const next = providerAt(dataDir);
  for (const id of await next.list()) await next.terminate(id);
  await rm(dataDir, { recursive: true, force: true });
});

it("names the satellites whose processes are still there, awake or frozen asleep; not stopped or terminated ones", async () => {
  const provider = providerAt(dataDir);
  expect(await localSatellitesLeft(dataDir)).toEqual([]);
  const [, asleep, stopped, gone] = await Promise.all(["awake", "asleep", "stopped", "gone"].map((n) => provider.launch(spec(n))));
  await provider.stop(asleep!.instanceId, { hibernate: true });
  await provider.stop(stopped!.instanceId, { hibernate: false });
  await provider.terminate(gone!.instanceId);
  // The worker goes away (Ctrl-C): its satellites do not.
  await provider.close?.();
  const left = await localSatellitesLeft(dataDir);
  expect(left.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
    { satelliteId: "id-asleep", name: "asleep", frozen: true },
    { satelliteId: "id-awake", name: "awake", frozen: false },
  ]);
});

it("an unreadable or missing data dir names none", async () => {
  expect(await localSatellitesLeft(join(dataDir, "nowhere"))).toEqual([]);
});
