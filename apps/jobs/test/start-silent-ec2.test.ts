// An EC2 satellite whose build daemon never serves (user-data found the image lacking, or the
// daemon would not start) fails after two health-check timeouts — not eight — and the reason
// quotes what the instance's console said (GetConsoleOutput: user-data's "satellites: …" lines).
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultLimits, limitColumns } from "@satellites/catalog";
import type { Emulator } from "@satellites/ec2-emulator";
import type { Db } from "@satellites/db";
import { enqueue } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import { makeOrg } from "@satellites/testing";
import { ec2World } from "./ec2-world.ts";
import type { JobsWorld } from "./harness.ts";

let db: Db;
let emu: Emulator;
let world: JobsWorld;
const said = "satellites: build steps run on a bridge (EC2_BUILDKIT_NETWORK=bridge) but the image lacks: firewall (CNI plugins belong in /opt/cni/bin); buildkitd stays stopped";

beforeAll(async () => {
  // The instance boots, says why its daemon will not serve, and serves nothing.
  const boot = `echo "[    0.000000] Linux version 6.1.0"; echo "cloud-init: running modules for final"; echo "${said}"; exec sleep 600`;
  ({ emu, world } = await ec2World({ command: ["sh", "-c", boot], env: { HEALTH_TIMEOUT_SECONDS: "2" } }));
  db = world.db;
  await world.start();
});
afterAll(async () => {
  await world?.close();
  await emu?.close();
});

it("a satellite whose daemon never serves is failed after two health-check timeouts, with the instance's console in the reason", { timeout: 90_000 }, async () => {
  const org = await makeOrg(db);
  const { satellite } = await createSatellite(db, {
    orgId: org.id, name: "silent", platform: "amd64", size: "small", provider: "ec2", actor: "user:bob", hibernate: true, ...limitColumns(defaultLimits("small")),
  });
  await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await expect.poll(async () => (await db.satellite.findUniqueOrThrow({ where: { id: satellite.id } })).state, { timeout: 60_000, interval: 200 }).toBe("failed");
  const sat = await db.satellite.findUniqueOrThrow({ where: { id: satellite.id } });
  expect(sat.failureReason).toMatch(/^satellite did not pass its health check at \S+ within 2 s; its log ends: /);
  // The console's own lines, not the boot noise around them.
  expect(sat.failureReason).toContain(said.slice("satellites: ".length));
  expect(sat.failureReason).not.toContain("Linux version");
  const failed = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: sat.id, to: "failed" } });
  expect(failed).toMatchObject({ cause: "failure", detail: { attempts: 2, job: "launch" } });
  // A failed satellite's machine is stopped: it is not billed while nobody can use it.
  await expect.poll(() => emu.control.instance(sat.instanceId!)?.state, { timeout: 30_000 }).toBe("stopped");
});
