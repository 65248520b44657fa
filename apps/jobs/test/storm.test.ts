// 100 asleep satellites woken at once against EC2's real throttling numbers: the account-wide
// BullMQ rate limiter paces StartInstances, so no RequestLimitExceeded surfaces as a failure
// and every satellite ends awake.
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultLimits, limitColumns } from "@satellites/catalog";
import { AWS_RATES, EMULATOR_AMIS, type Emulator } from "@satellites/ec2-emulator";
import { TEST_CREDENTIALS } from "@satellites/ec2-emulator/testing";
import { requestWake } from "@satellites/lifecycle";
import { createEc2Provider } from "@satellites/provider/ec2";
import { createSatellite, transition } from "@satellites/state";
import type { Db } from "@satellites/db";
import { makeOrg } from "@satellites/testing";
import { loadOrCreateCa } from "@satellites/pki";
import { processCaDir } from "@satellites/testing/satellite-tls";
import { ec2World } from "./ec2-world.ts";
import type { JobsWorld } from "./harness.ts";

const N = 100;
let db: Db;
let emu: Emulator;
let world: JobsWorld;
beforeAll(async () => {
  // Set-up runs unthrottled; the storm itself runs against AWS's buckets.
  ({ emu, world } = await ec2World({ tiny: true, throttle: false }));
  db = world.db;
});
afterAll(async () => {
  await world?.close();
  await emu?.close();
});

it(`${N} satellites woken at once: all awake, no throttling failure`, { timeout: 240_000 }, async () => {
  const org = await makeOrg(db, "storm");
  const provider = createEc2Provider({
    region: "us-east-1", endpoint: emu.endpoint, credentials: TEST_CREDENTIALS, amiAmd64: EMULATOR_AMIS.amd64, amiArm64: EMULATOR_AMIS.arm64,
    satellitePort: emu.satellitePort, hibernate: false,
    // The jobs process probes over mutual TLS: the instances' user-data carries certificates from its CA.
    ca: await loadOrCreateCa(processCaDir()),
  });
  const ids: string[] = [];
  const pending = Array.from({ length: N }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
        let { satellite: sat } = await createSatellite(db, { orgId: org.id, name: `storm-${i}`, platform: "amd64", size: "xsmall", provider: "ec2", actor: "system", ...limitColumns(defaultLimits("xsmall")) });
        const launched = await provider.launch({ satelliteId: sat.id, orgId: org.id, name: sat.name, platform: "amd64", size: "xsmall", limits: defaultLimits("xsmall"), hibernate: false });
        await provider.stop(launched.instanceId, { hibernate: false });
        for (const [to, cause] of [["awake", "launch"], ["stopping", "idle"], ["asleep", "idle"]] as const) {
          sat = (await transition(db, { satellite: sat, to, cause, actor: "system", set: { instanceId: launched.instanceId } })).satellite!;
        }
        ids.push(sat.id);
      }
    }),
  );
  for (const cls of ["RunInstances", "StartInstances", "mutating", "describe"] as const) emu.control.setThrottle(cls, AWS_RATES[cls]);
  emu.control.reset();

  const worker = await world.start();
  const began = Date.now();
  const outcomes = await Promise.all(ids.map((id) => requestWake(db, world.queues, id, { cause: "request", actor: "token:storm" })));
  expect(outcomes.filter((o) => o.kind === "waking" && o.started)).toHaveLength(N);
  await expect
    .poll(async () => db.satellite.count({ where: { id: { in: ids }, state: "awake" } }), { timeout: 200_000, interval: 1000 })
    .toBe(N);
  const seconds = (Date.now() - began) / 1000;

  expect(await db.satellite.count({ where: { id: { in: ids }, state: "failed" } })).toBe(0);
  expect(await db.satelliteEvent.count({ where: { satelliteId: { in: ids }, error: { not: null } } })).toBe(0);
  const running = emu.control.instances().filter((i) => i.state === "running").length;
  expect(running).toBe(N);
  const stats = emu.control.stats();
  // The pacing holds StartInstances to EC2's sustained rate; any throttled call was retried.
  expect(stats.requests.StartInstances).toBeGreaterThanOrEqual(N);
  console.log(`storm: ${N} woken in ${seconds.toFixed(1)} s; StartInstances requests ${stats.requests.StartInstances}, throttled ${stats.throttled.StartInstances ?? 0}; DescribeInstances throttled ${stats.throttled.DescribeInstances ?? 0}`);
  await worker.stop();
});
